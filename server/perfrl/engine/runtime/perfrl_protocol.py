"""Names and shapes shared by the engine and the runtime scripts (standard library only).

Imported by both sides: ``perfrl.engine.*`` in the server and the scripts under
``runtime/`` in the user's interpreter (Python 3.9 syntax).
"""

# == Worker channel (issue 12: verify's trust boundary) ===================================
# One ``perfrl_worker`` process per side (the original in a pristine copy of the project, the
# candidate in its own copy), driven by the engine over two FIFOs in a channel folder, one
# JSON object per line. The engine opens both FIFOs itself before the worker starts.

#: FIFO names inside the channel folder: engine -> worker, worker -> engine.
CHANNEL_REQUESTS = "in"
CHANNEL_REPLIES = "out"

#: request op -> the reply op(s) it gets. Shapes:
#:   hello (first message, unasked): {"module_file", "params", "python", "generator"} or
#:       {"error", "traceback"}
#:   replay {"calls": [i], "source": "recorded"|"generated"} -> outcome* then end;
#:       outcome {"index", "outcome": OUTCOME, "recorded": OUTCOME (original side only),
#:                "load_error": str (instead of outcome)}
#:   generate {"calls": [i], "budget", "seed"} -> generated {"blobs": [hex pickle], "why"}
#:   add_inputs {"blobs": [hex pickle]} -> end
#:   state -> state {"sizes": {what: int}}
#:   prepare {"items": [[source, index], ...]} -> ready; go -> done;
#:   report -> results {"table": [json OUTCOME without args_after], "order": [table index]}
#:   quit (no reply)
#: OUTCOME: {"kind": "return", "value": CANON, "args_after": CANON}
#:        | {"kind": "raise", "type": "module.Qualname", "message": str, "args_after": CANON}
#:        | {"kind": "unencodable", "why": str}; CANON: see perfrl_canon.
WORKER_REPLIES = {
    "replay": ("outcome", "end"),
    "generate": ("generated",),
    "add_inputs": ("end",),
    "state": ("state",),
    "prepare": ("ready",),
    "go": ("done",),
    "report": ("results",),
    "quit": (),
}
