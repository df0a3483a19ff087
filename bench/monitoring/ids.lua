-- wrk script: GET /products/{id} cycling over ids 1..BENCH_ROWS (each a cached row).
local rows = tonumber(os.getenv("BENCH_ROWS") or "1000")
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", "/products/" .. (n % rows + 1))
end
