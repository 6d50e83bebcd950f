-- Headless Neovim driver (0.7 and 0.11): start the PerfRL server for the current buffer, run
-- the workspace command "perfrl.profileProject" as the Neovim doc shows, then ask for code
-- lenses and write what Neovim received to PERFRL_RESULT as JSON:
-- {"version", "top": first profiled target, "lenses": [titles of the buffer's lenses]}.
--
-- Environment: PERFRL_SERVER_CMD (JSON list), PERFRL_ROOT, PERFRL_RESULT, PERFRL_WAIT_MS.
-- Ends with `qall!` when done and `cquit 1` on any error (the error goes to stderr).

local function fail(msg)
  io.stderr:write('perfrl-nvim-driver: ' .. tostring(msg) .. '\n')
  vim.cmd('cquit 1')
end

local function main()
  local cmd = vim.fn.json_decode(os.getenv('PERFRL_SERVER_CMD'))
  local wait_ms = tonumber(os.getenv('PERFRL_WAIT_MS') or '240000')
  local perfrl = { sources = { 'rules' } }
  local bufnr = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'perfrl',
    cmd = cmd,
    root_dir = os.getenv('PERFRL_ROOT'),
    init_options = { perfrl = perfrl },
    settings = { perfrl = perfrl },
    handlers = { ['window/showMessage'] = function() end },
  })
  assert(client_id, 'the server did not start')
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(30000, function() return client.initialized end, 20), 'no initialize')

  local responses = vim.lsp.buf_request_sync(bufnr, 'workspace/executeCommand', {
    command = 'perfrl.profileProject', arguments = {},
  }, wait_ms)
  local response = responses and responses[client_id]
  assert(response and not response.err and response.result and response.result.functions,
    'perfrl.profileProject: ' .. vim.inspect(response))
  local top = response.result.functions[1]
  assert(top, 'the profile found no function')

  local lenses = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeLens', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
  }, 30000)
  local titles = {}
  for _, lens in ipairs((lenses and lenses[client_id] and lenses[client_id].result) or {}) do
    if lens.command then table.insert(titles, lens.command.title) end
  end
  local v = vim.version()
  local out = io.open(os.getenv('PERFRL_RESULT'), 'w')
  out:write(vim.fn.json_encode({
    version = v.major .. '.' .. v.minor, top = top.target, lenses = titles,
  }))
  out:close()
  vim.cmd('qall!')
end

local ok, err = pcall(main)
if not ok then fail(err) end
