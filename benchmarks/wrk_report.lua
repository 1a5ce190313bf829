-- wrk script of the Fashionistar benchmarks (benchmarks/common.py runs it).
-- Arguments after "--": kind token id_file prefix tag
--   kind "get":   the URL as given
--   kind "order": POST an order of one unit of a random variant id from id_file
--   kind "pay":   POST {prefix}{id}/pay for each order id of id_file in turn, a new Idempotency-Key each
-- done() prints one JSON line: requests, duration, errors, latency percentiles in microseconds.

local kind, token, prefix, tag = "get", nil, "", ""
local ids, counter = {}, 0

function init(args)
  kind = args[1] or "get"
  if args[2] and args[2] ~= "-" then token = args[2] end
  if args[3] then
    for line in io.lines(args[3]) do
      if line ~= "" then ids[#ids + 1] = line end
    end
  end
  prefix = args[4] or ""
  tag = args[5] or ""
end

local function headers()
  local h = { ["Content-Type"] = "application/json" }
  if token then h["Authorization"] = "Token " .. token end
  return h
end

function request()
  if kind == "order" then
    local body = '{"items": [{"variant_id": ' .. ids[math.random(#ids)] .. ', "quantity": 1}]}'
    return wrk.format("POST", nil, headers(), body)
  elseif kind == "pay" then
    counter = counter + 1
    local h = headers()
    h["Idempotency-Key"] = "bench-" .. tag .. "-" .. counter
    local id = ids[(counter - 1) % #ids + 1]
    return wrk.format("POST", prefix .. id .. "/pay", h, '{"card_token": "tok_visa"}')
  end
  return wrk.format(nil, nil, headers(), nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
