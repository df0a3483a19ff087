#!/usr/bin/env bash
# Writes bench/specs/hundred.yaml: 25 copies of the shop example (users, products, orders,
# reviews) = 100 resources with refs, indexes, filters, sorts, caches, budgets, aggregates
# and rankings. Re-run after changing this script: bench/specs/hundred.sh > bench/specs/hundred.yaml
set -euo pipefail
cat <<'HEAD'
# 100 resources for bench/generator.sh (written by bench/specs/hundred.sh; do not edit)
name: hundred
database:
  pool: { max: 20 }
cache:
  redis: { url_env: REDIS_URL }
server:
  compression: [br, gzip, zstd]
defaults:
  pagination: { default_limit: 50, max_limit: 200 }

resources:
HEAD
for n in $(seq -w 1 25); do
cat <<EOF2
  users_$n:
    fields:
      id: { type: uuid, primary_key: true, default: gen_random_uuid }
      email: { type: string, max_length: 320, unique: true }
      name: { type: string }
      password_hash: { type: string, hidden: true }
      created_at: { type: timestamp, default: now, readonly: true }
  products_$n:
    fields:
      id: { type: bigserial, primary_key: true }
      name: { type: string, max_length: 200 }
      category: { type: string }
      price: { type: decimal, precision: 10, scale: 2, min: 0 }
      sales: { type: int, default: 0 }
      is_static: { type: bool, default: false }
      created_at: { type: timestamp, default: now, readonly: true }
    indexes: [[price], [created_at], [sales], [category, price], [category, created_at], [category, sales]]
    filters: [category, price]
    sort: { default: -created_at, allowed: [created_at, price, sales] }
    cache:
      memory: { max_entries: 1000, ttl: 5m }
      redis: { ttl: 5m }
      http: { max_age: 60, visibility: private, immutable_when: is_static }
    budgets:
      list: { p95: 200ms, p99: 500ms }
    aggregates:
      review_count: { count: reviews_$n }
      avg_rating: { avg: reviews_$n.rating }
    rankings:
      top_by_category: { partition: category, order: -sales, limit: 10 }
  orders_$n:
    fields:
      id: { type: bigserial, primary_key: true }
      user_id: { type: ref, to: users_$n, on_delete: cascade }
      product_id: { type: ref, to: products_$n, on_delete: restrict }
      quantity: { type: int, min: 1 }
      status: { type: enum, values: [pending, paid, shipped], default: pending }
      created_at: { type: timestamp, default: now, readonly: true }
    indexes: [[user_id], [product_id]]
  reviews_$n:
    fields:
      id: { type: bigserial, primary_key: true }
      product_id: { type: ref, to: products_$n, on_delete: cascade }
      rating: { type: int, min: 1, max: 5 }
      body: { type: text, nullable: true }
    indexes: [[product_id]]
EOF2
done
