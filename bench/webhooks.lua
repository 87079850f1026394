-- Replays signed deliveries from bench/make-deliveries.py: each wrk thread takes every
-- n-th line, so no two requests carry the same event (duplicates are cheaper to answer).
-- usage: wrk ... -s bench/webhooks.lua URL -- DELIVERIES_FILE THREADS

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local file, threads = args[1], tonumber(args[2])
  signatures, bodies, next_index = {}, {}, 1
  local n = 0
  for line in io.lines(file) do
    if n % threads == id then
      local tab = line:find("\t", 1, true)
      signatures[#signatures + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    n = n + 1
  end
end

function request()
  local i = next_index
  next_index = next_index % #bodies + 1
  return wrk.format("POST", nil, { ["Stripe-Signature"] = signatures[i], ["Content-Type"] = "application/json" }, bodies[i])
end
