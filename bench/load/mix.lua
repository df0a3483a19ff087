-- wrk script of bench/load.sh: a read/write mix over the shop's products.
--   60 % GET /products/{id}   (ids 1..LOAD_PRODUCTS; the in-process cache holds 1,000)
--   20 % GET /products?category=cN&limit=20
--   10 % PATCH /products/{id} {"sales": n}   (invalidates that row and the lists)
--   10 % POST /products
-- Non-2xx answers and socket errors are counted per thread and printed by done() as one
-- JSON line the script reads.
local products = tonumber(os.getenv("LOAD_PRODUCTS") or "100000")
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + id * 7919)
  non2xx = 0
  created = 0
end

local json = { ["Content-Type"] = "application/json" }

function request()
  local r = math.random(100)
  local pid = math.random(products)
  if r <= 60 then
    return wrk.format("GET", "/products/" .. pid)
  elseif r <= 80 then
    return wrk.format("GET", "/products?category=c" .. math.random(0, 99) .. "&limit=20")
  elseif r <= 90 then
    return wrk.format("PATCH", "/products/" .. pid, json, '{"sales":' .. math.random(1000) .. '}')
  else
    return wrk.format("POST", "/products", json,
      '{"name":"load ' .. math.random(1000000) .. '","category":"c' .. math.random(0, 99) .. '","price":"12.50"}')
  end
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"non2xx":%d,"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
