-- Lua for the llm-platform gate (HAProxy 2.6). Loaded with `lua-load`; two jobs only:
--
-- 1. Map reload. The key, grant, limit and model-list maps are files in a mounted Secret and ConfigMap that
--    the kubelet swaps in place when a tenant, grant or key changes. HAProxy reads map files at
--    start only, so a task re-reads them every GATE_MAP_RELOAD_SECONDS and applies the
--    difference with core.set_map / core.del_map (the runtime API's `set map` / `del map`):
--    no reload, no restart, no dropped request.
-- 2. `lua.gate_model_keys`: how many times the top-level object of the request body has a
--    "model" key. HAProxy's json_query returns the first, Python's json (vLLM) keeps the last:
--    a body naming two models could pass the grant check with one and run the other, so the
--    gate refuses any body with more than one.

local maps = {}          -- path -> { key -> value } as last applied
local map_paths = {}

local function read_map(path)
  local f = io.open(path, "r")
  if f == nil then return nil end
  local entries = {}
  for line in f:lines() do
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local key, value = line:match("^(%S+)%s+(.*)$")
      if key == nil then key, value = line:match("^(%S+)%s*$"), "" end
      if key ~= nil then entries[key] = value end
    end
  end
  f:close()
  return entries
end

local function apply(path)
  local wanted = read_map(path)
  if wanted == nil then return end  -- mid-swap or unreadable: keep what is loaded
  local current = maps[path] or {}
  local changed = 0
  for key, value in pairs(wanted) do
    if current[key] ~= value then core.set_map(path, key, value); changed = changed + 1 end
  end
  for key, _ in pairs(current) do
    if wanted[key] == nil then core.del_map(path, key); changed = changed + 1 end
  end
  maps[path] = wanted
  if changed > 0 then core.Info("gate: " .. path .. ": " .. changed .. " entries updated") end
end

core.register_init(function()
  local list = os.getenv("GATE_MAP_FILES") or ""
  for path in list:gmatch("[^,]+") do
    table.insert(map_paths, path)
    maps[path] = read_map(path) or {}  -- HAProxy loaded the same files at start
  end
end)

core.register_task(function()
  local period = tonumber(os.getenv("GATE_MAP_RELOAD_SECONDS") or "5") or 5
  while true do
    core.sleep(period)
    for _, path in ipairs(map_paths) do apply(path) end
  end
end)

-- Count "model" keys of the top-level JSON object (strings and nesting skipped; escapes honoured).
core.register_fetches("gate_model_keys", function(txn)
  local body = txn.f:req_body() or ""
  local depth, i, n, count = 0, 1, #body, 0
  local expect_key = false
  while i <= n do
    local c = body:sub(i, i)
    if c == '"' then
      local j = i + 1
      while j <= n do
        local d = body:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == '"' then break
        else j = j + 1 end
      end
      if depth == 1 and expect_key and body:sub(i + 1, j - 1) == "model" then count = count + 1 end
      expect_key = false
      i = j + 1
    else
      if c == "{" or c == "[" then
        depth = depth + 1
        expect_key = (c == "{" and depth == 1)
      elseif c == "}" or c == "]" then
        depth = depth - 1
      elseif c == "," and depth == 1 then
        expect_key = true
      end
      i = i + 1
    end
  end
  return count
end)
