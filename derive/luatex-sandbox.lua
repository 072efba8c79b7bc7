-- derive's Lua sandbox for lualatex, run as the first line of every document
-- (before any template code):  \directlua{dofile("derive-sandbox.lua")}
--
-- Templates are shared and downloaded, and \directlua gives them all of Lua.
-- kpathsea's paranoid mode guards TeX's own \openin/\openout, not Lua's io, so
-- without this a template could read /etc/passwd into the PDF or write files.
-- luatex --safer would take io away, but it also stops luaotfload from writing
-- its font cache, so fonts fail to load.  Instead, every Lua route to a file
-- is narrowed here:
--   * read: the build folder (relative paths without ".."), the TeX trees and
--     the system's font folders, where luaotfload and the packages read;
--   * write: the build folder and luaotfload's cache folder only;
--   * no programs (os.execute, io.popen, ...), no C modules, no chdir, no
--     environment changes, no binary chunks, and no debug library (which
--     could reach the original functions kept in this file's closures).
-- Each refusal is a Lua error that TeX reports, naming the path.

local open, lines, input, output = io.open, io.lines, io.input, io.output
local loadfile_, dofile_, load_ = loadfile, dofile, load
local mkdir, rmdir, touch, dir, lfs_lock = lfs.mkdir, lfs.rmdir, lfs.touch, lfs.dir, lfs.lock
local remove, rename = os.remove, os.rename
local getenv, find, sub, gsub, gmatch = os.getenv, string.find, string.sub, string.gsub, string.gmatch
local concat, insert = table.concat, table.insert
local currentdir = lfs.currentdir()
local traceback = debug and debug.traceback

local function var(name)
  local value = kpse.var_value(name)
  return value or ""
end

-- The folders of a kpathsea path value: "a:b:{c,d}//" -> a, b, c, d (no "!!", no "//").
local function folders(value, out)
  value = gsub(value, "[{}]", ":")
  value = gsub(value, ",", ":")
  for part in gmatch(value, "[^:;]+") do
    part = gsub(part, "^!!", "")
    part = gsub(part, "/+$", "")
    if find(part, "^/") or find(part, "^~") then
      part = gsub(part, "^~", getenv("HOME") or "/nonexistent")
      insert(out, part)
    end
  end
  return out
end

local cache = {}
for _, name in ipairs({"TEXMFCACHE", "TEXMFVAR"}) do folders(var(name), cache) end
local readable = {}
for _, name in ipairs({"TEXMF", "TEXMFDIST", "TEXMFLOCAL", "TEXMFSYSVAR", "TEXMFSYSCONFIG", "TEXMFVAR",
                       "TEXMFCONFIG", "TEXMFHOME", "TEXMFCACHE", "OSFONTDIR", "TEXMFCNF"}) do
  folders(var(name), readable)
end
for _, f in ipairs({"/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/texmf", "/usr/share/texlive",
                    "/var/lib/texmf", "/etc/texmf", "/etc/fonts", (getenv("HOME") or "/nonexistent") .. "/.fonts",
                    (getenv("HOME") or "/nonexistent") .. "/.local/share/fonts"}) do
  insert(readable, f)
end

-- Whether path lies inside one of the folders: a relative path (the build
-- folder) or an absolute one under a prefix, never through "..".
local function inside(path, prefixes)
  if type(path) ~= "string" or find(path, "%z") then return false end
  for piece in gmatch(path, "[^/]+") do
    if piece == ".." then return false end
  end
  if not find(path, "^/") then
    return prefixes ~= cache  -- the build folder: relative paths are read and written there
  end
  if sub(path, 1, #currentdir + 1) == currentdir .. "/" then return prefixes ~= cache end
  for _, prefix in ipairs(prefixes) do
    if sub(path, 1, #prefix) == prefix and (#path == #prefix or sub(path, #prefix + 1, #prefix + 1) == "/") then
      return true
    end
  end
  return false
end

local function writable(path) return inside(path, cache) or inside(path, {}) end

local function refuse(what, path)
  error("derive: a template's Lua may not " .. what .. " " .. tostring(path)
        .. " (derive runs lualatex with Lua's files, programs and environment restricted)", 0)
end

local function checked_read(path, what)
  if not inside(path, readable) then refuse(what or "read", path) end
end

io.open = function(path, mode)
  mode = mode or "r"
  if find(mode, "[wa+]") then
    if not writable(path) then refuse("write", path) end
  else
    checked_read(path)
  end
  return open(path, mode)
end
io.lines = function(path, ...)
  if path ~= nil then checked_read(path) end
  return lines(path, ...)
end
io.input = function(f)
  if type(f) == "string" then checked_read(f) end
  return input(f)
end
io.output = function(f)
  if type(f) == "string" and not writable(f) then refuse("write", f) end
  return output(f)
end
io.popen = nil
loadfile = function(path, ...)
  if path ~= nil then checked_read(path, "load") end
  return loadfile_(path, ...)
end
dofile = function(path)
  if path ~= nil then checked_read(path, "run") end
  return dofile_(path)
end
load = function(chunk, name, mode, env)  -- text only: crafted bytecode can break out of Lua's safety
  return load_(chunk, name, "t", env)
end

lfs.mkdir = function(path) if not writable(path) then refuse("make the folder", path) end return mkdir(path) end
lfs.rmdir = function(path) if not writable(path) then refuse("remove the folder", path) end return rmdir(path) end
lfs.touch = function(path, ...) if not writable(path) then refuse("touch", path) end return touch(path, ...) end
lfs.dir = function(path) checked_read(path, "list") return dir(path) end
lfs.lock = lfs_lock
lfs.chdir, lfs.link, lfs.setmode = nil, nil, nil
os.remove = function(path) if not writable(path) then refuse("remove", path) end return remove(path) end
os.rename = function(a, b)
  if not (writable(a) and writable(b)) then refuse("rename", a) end
  return rename(a, b)
end
os.execute, os.exec, os.spawn, os.setenv, os.kpsepopen, os.tmpdir = nil, nil, nil, nil, nil, nil
if fontloader and fontloader.open then
  local fopen = fontloader.open
  fontloader.open = function(path, ...) checked_read(path, "read the font") return fopen(path, ...) end
end
for _, library in ipairs({"pdfe", "epdf"}) do
  local l = _G[library]
  if l and l.open then
    local popen = l.open
    l.open = function(path, ...) checked_read(path, "read the PDF") return popen(path, ...) end
  end
end
package.loadlib = nil
package.cpath = ""
if package.searchers then package.searchers[3], package.searchers[4] = nil, nil end  -- C loaders
debug = {traceback = traceback}
package.loaded.debug = debug
package.loaded.ffi, ffi = nil, nil
package.loaded.socket, socket = nil, nil
