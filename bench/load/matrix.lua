-- Upstream's matrix mix (bench/load/matrix_locustfile.py) for wrk, for when
-- locust is the bottleneck: the same paths, bodies and weights.
--
--   wrk -t2 -c100 -d20s --timeout 30s -s bench/load/matrix.lua http://127.0.0.1:8000
--
-- Paths after "--" keep only those of the mix, at their weights (the
-- others are sent 0 times): make bench sends the six writes alone with
--
--   wrk ... -s bench/load/matrix.lua URL -- /write/ /read_write/ ...
--
-- Each thread cycles through a deck of the 26 requests of upstream's
-- weights (10 read/, 10 read_transaction/, 1 of each of the six writes,
-- each POSTing the same row as form data), shuffled once per thread. wrk
-- counts an answer that is not 2xx or 3xx as a status error; the body is
-- not read (that would slow wrk down), so a 200 is taken as "OK". At the
-- end it prints bench/harness/wrk_report.lua's WRK line, then one
-- WRK_SENT line: how many requests of each path the threads sent (those
-- in flight when wrk stopped included).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "../harness/wrk_report.lua")
local report = done

local body = "name=Name+0&campaign=Campaign+0&voice=Voice+0&recognize=Recognize+0" ..
  "&inside=0&growth=Growth+0&side=0&yard=Yard+0&discussion=Discussion+0"
local mix = {
  { "/read/", 10, "GET" }, { "/read_transaction/", 10, "GET" },
  { "/write/", 1, "POST" }, { "/read_write/", 1, "POST" }, { "/write_read/", 1, "POST" },
  { "/read_write_transaction/", 1, "POST" }, { "/write_read_transaction/", 1, "POST" },
  { "/read_write_transaction_immediate/", 1, "POST" },
}

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local deck, paths, next_card = {}, {}, 0
sent = {}

-- The weight of the mix's entry in this run: its own, or 0 for a path that
-- args (when given) does not name.
local function weight_in_run(entry, args)
  if #args == 0 then
    return entry[2]
  end
  for _, path in ipairs(args) do
    if path == entry[1] then
      return entry[2]
    end
  end
  return 0
end

function init(args)
  for i, entry in ipairs(mix) do
    local path, method = entry[1], entry[3]
    local req = wrk.format("GET", path)
    if method == "POST" then
      req = wrk.format("POST", path,
                       { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
    end
    for _ = 1, weight_in_run(entry, args) do
      table.insert(deck, req)
      table.insert(paths, i)
    end
    sent[i] = 0
  end
  if #deck == 0 then
    error("matrix.lua: none of the paths given is in the mix")
  end
  math.randomseed(id * 7919)
  for i = #deck, 2, -1 do
    local j = math.random(i)
    deck[i], deck[j] = deck[j], deck[i]
    paths[i], paths[j] = paths[j], paths[i]
  end
end

function request()
  next_card = next_card % #deck + 1
  sent[paths[next_card]] = sent[paths[next_card]] + 1
  return deck[next_card]
end

done = function(summary, latency, requests)
  report(summary, latency, requests)
  local parts = {}
  for i, entry in ipairs(mix) do
    local n = 0
    for _, thread in ipairs(threads) do
      n = n + thread:get("sent")[i]
    end
    table.insert(parts, string.format("%s=%d", entry[1], n))
  end
  io.write("WRK_SENT " .. table.concat(parts, " ") .. "\n")
end
