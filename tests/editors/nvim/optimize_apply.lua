-- Headless Neovim driver (works on 0.7 and 0.11): start the PerfRL server for the current
-- buffer, run "Optimize `FUNCTION` with PerfRL", wait for the verified result, check the
-- code lens, apply the rewrite through Neovim's own code-action UI, write the buffer.
--
-- Environment: PERFRL_SERVER_CMD (JSON list), PERFRL_ROOT, PERFRL_RESULT (a JSON file this
-- driver writes), PERFRL_WAIT_MS, and what to optimize and how:
--   PERFRL_FUNCTION  the function (default missing_skus)
--   PERFRL_ANCHOR    text of a line inside it, where the cursor goes (default its append)
--   PERFRL_APPLIED   text the buffer holds once the rewrite is applied
--   PERFRL_SETTINGS  the server's perfrl settings as JSON (default: no generated sources,
--                    PERFRL_CANDIDATES as the hand-written candidates' folder)
-- Ends with `qall!` on success and `cquit 1` on any error (the error goes to stderr).

local function fail(msg)
  io.stderr:write('perfrl-nvim-driver: ' .. tostring(msg) .. '\n')
  vim.cmd('cquit 1')
end

local function main()
  local cmd = vim.fn.json_decode(os.getenv('PERFRL_SERVER_CMD'))
  local root = os.getenv('PERFRL_ROOT')
  local wait_ms = tonumber(os.getenv('PERFRL_WAIT_MS') or '240000')
  local name = os.getenv('PERFRL_FUNCTION') or 'missing_skus'
  local anchor = os.getenv('PERFRL_ANCHOR') or 'missing.append(sku)'
  local applied = os.getenv('PERFRL_APPLIED') or 'carried = {product["sku"] for product in products}'
  local perfrl
  if os.getenv('PERFRL_SETTINGS') then
    perfrl = vim.fn.json_decode(os.getenv('PERFRL_SETTINGS'))
  else
    perfrl = { sources = {}, extraCandidateDirs = { os.getenv('PERFRL_CANDIDATES') } }
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local messages, statuses, verdicts = {}, {}, {}

  local client_id = vim.lsp.start_client({
    name = 'perfrl',
    cmd = cmd,
    root_dir = root,
    init_options = { perfrl = perfrl },
    settings = { perfrl = perfrl },
    handlers = {
      ['window/showMessage'] = function(_, result)
        table.insert(messages, result.message)
      end,
      ['window/logMessage'] = function(_, result)
        -- The server's verdict on each candidate: why a job offered no rewrite.
        if result.message:find('): #', 1, true) then table.insert(verdicts, result.message) end
      end,
      ['perfrl/status'] = function(_, result)
        table.insert(statuses, result)
      end,
    },
  })
  assert(client_id, 'the server did not start')
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(30000, function() return client.initialized end, 20), 'no initialize')

  local uri = vim.uri_from_bufnr(bufnr)
  local line
  for i, text in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    if text:find(anchor, 1, true) then line = i - 1 end
  end
  assert(line, name .. ' not found in the buffer')

  local function request(method, params)
    local responses = vim.lsp.buf_request_sync(bufnr, method, params, 20000)
    assert(responses and responses[client_id], method .. ': no response')
    local response = responses[client_id]
    assert(not response.err, method .. ': ' .. vim.inspect(response.err))
    return response.result
  end

  local function code_actions()
    local pos = { line = line, character = 4 }
    return request('textDocument/codeAction', {
      textDocument = { uri = uri }, range = { start = pos, ['end'] = pos },
      context = { diagnostics = {} },
    }) or {}
  end

  local optimize
  for _, action in ipairs(code_actions()) do
    if action.title == 'Optimize `' .. name .. '` with PerfRL' then optimize = action end
  end
  assert(optimize, 'no optimize action')
  local started = request('workspace/executeCommand', optimize.command)
  assert(started and started.jobId, 'the job did not start')

  local done
  assert(vim.wait(wait_ms, function()
    for _, m in ipairs(messages) do
      if m:find(name, 1, true) then done = m return true end
    end
    return false
  end, 100), 'no result message; messages: ' .. vim.inspect(messages))
  assert(done:find('× faster', 1, true),
    'unexpected result: ' .. done .. '\nthe verdicts:\n' .. table.concat(verdicts, '\n'))

  local lens_title
  for _, lens in ipairs(request('textDocument/codeLens', { textDocument = { uri = uri } }) or {}) do
    if lens.command and lens.command.command == 'perfrl.applyRewrite' then
      lens_title = lens.command.title
    end
  end
  assert(lens_title, 'no apply lens')

  -- Apply through Neovim's own code-action flow; the picker is stubbed to choose "Apply".
  local chosen
  vim.ui.select = function(items, opts, on_choice)
    for i, item in ipairs(items) do
      local title = opts.format_item(item)
      if title:find('^Apply PerfRL rewrite') then
        chosen = title
        return on_choice(item, i)
      end
    end
    on_choice(nil, nil)
  end
  vim.api.nvim_win_set_cursor(0, { line + 1, 4 })
  vim.lsp.buf.code_action()
  assert(vim.wait(30000, function()
    for _, text in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
      if text:find(applied, 1, true) then
        return true
      end
    end
    return false
  end, 50), 'the rewrite was not applied; chosen: ' .. tostring(chosen))
  vim.cmd('write')

  local result_file = io.open(os.getenv('PERFRL_RESULT'), 'w')
  result_file:write(vim.fn.json_encode({
    version = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor),
    lens = lens_title, action = chosen, message = done, statuses = #statuses,
  }))
  result_file:close()
  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
end

local ok, err = xpcall(main, debug.traceback)
if ok then
  vim.cmd('qall!')
else
  fail(err)
end
