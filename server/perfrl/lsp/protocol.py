"""What every message from the client passes before pygls dispatches it, and how errors are
answered.

:class:`PerfProtocol` subclasses pygls' ``LanguageServerProtocol``; the server's stdio loop
hands it each decoded JSON value through :meth:`PerfProtocol.receive`. A caller may rely on:

- every request (a message with a valid ``id`` and a ``method``) getting exactly one answer:
  -32600 for a malformed envelope (then with a null id when the id itself is unusable),
  -32601 for an unknown method, -32602 when the params do not match the method's type,
  -32002 before ``initialize``, -32600 for a second ``initialize`` and for any request after
  ``shutdown``; notifications in those states are dropped with one log line;
- one log line per rejected message, and no ``window/showMessage`` for protocol noise
  (pygls' default pops an error to the user for each);
- ``exit`` never calling ``sys.exit`` inside a handler: it asks the server to stop (exit code
  0 after ``shutdown``, 1 otherwise), and the stdio loop ends the process after its clean-up.
"""

from __future__ import annotations

import logging
import traceback
import typing
from concurrent.futures import Future
from typing import Any, NewType

import attrs
from cattrs import Converter
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol, default_converter, lsp_method

from perfrl.lsp.framing import FrameProblem

if typing.TYPE_CHECKING:
    from perfrl.lsp.server import PerfServer

log = logging.getLogger(__name__)

#: Longest excerpt of a rejected message quoted in the log.
_SHOWN = 120


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


#: Command argument types: exactly a JSON integer / string (cattrs' plain ``int`` and ``str``
#: would turn "3" into 3 and 3 into "3").
CommandInt = NewType("CommandInt", int)
CommandText = NewType("CommandText", str)


def _strict_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {_shown(value)}")
    return value


def _strict_text(value: Any, _type: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected a non-empty string, got {_shown(value)}")
    return value


def perf_converter() -> Converter:
    """pygls' converter plus the strict command argument types."""
    converter = default_converter()
    converter.register_structure_hook(CommandInt, _strict_int)
    converter.register_structure_hook(CommandText, _strict_text)
    return converter


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class RejectedMessage(Exception):
    """A message that is refused before dispatch; ``error`` is the JSON-RPC answer."""

    def __init__(self, error: JsonRpcException) -> None:
        super().__init__(error.message)
        self.error = error


class PerfProtocol(LanguageServerProtocol):
    """pygls' LSP protocol with envelope checks, lifecycle gates and quiet error answers."""

    _server: PerfServer

    def __init__(self, server, converter) -> None:
        super().__init__(server, converter)
        self.initialize_received = False
        self.shutdown_received = False
        self.exit_received = False
        self._logged_crashes: set[str] = set()

    # --- entry point from the reader --------------------------------------------------------------

    def receive(self, value: object | FrameProblem) -> None:
        """Handle one decoded message (or one broken frame) from the client."""
        if self.exit_received:
            return
        if isinstance(value, FrameProblem):
            log.warning("skipped %s", value.message)
            if value.parse_error:
                self._reply_error(None, JsonRpcParseError(f"Parse error: {value.message}"))
            return
        if not isinstance(value, dict):
            self._reject(None, JsonRpcInvalidRequest(
                f"Invalid request: a message must be a JSON object, got {_shown(value)}"))
            return
        try:
            message = self._checked(value)
        except RejectedMessage as rejected:
            msg_id = value.get("id")
            is_response = "method" not in value and ("result" in value or "error" in value)
            if "id" in value and not (is_response and _valid_id(msg_id)):
                self._reject(msg_id if _valid_id(msg_id) else None, rejected.error)
            else:
                log.warning("ignored %s: %s", _shown(value.get("method", "a response")),
                            rejected.error.message)
            return
        if message is None:
            return
        self.handle_message(message)

    def _checked(self, raw: dict) -> Any:
        """The structured message, None when it is to be dropped silently (a notification the
        server cannot take in its state), or raise RejectedMessage."""
        if "id" in raw and not _valid_id(raw["id"]):
            raise RejectedMessage(JsonRpcInvalidRequest(
                f"Invalid request: id must be a string or an integer, got {_shown(raw['id'])}"))
        if raw.get("jsonrpc") != "2.0":
            raise RejectedMessage(JsonRpcInvalidRequest(
                f"Invalid request: jsonrpc must be \"2.0\", got {_shown(raw.get('jsonrpc'))}"))
        if "method" not in raw:
            if "id" in raw and ("result" in raw or "error" in raw):
                return self._structure(raw)  # a response to one of our requests
            raise RejectedMessage(JsonRpcInvalidRequest(
                "Invalid request: neither a request, a notification nor a response"))
        method = raw["method"]
        if not isinstance(method, str):
            raise RejectedMessage(JsonRpcInvalidRequest(
                f"Invalid request: method must be a string, got {_shown(method)}"))
        params = raw.get("params")
        if params is not None and not isinstance(params, (dict, list)):
            raise RejectedMessage(JsonRpcInvalidParams(
                f"Invalid params for {method!r}: params must be an object or an array"))
        is_request = "id" in raw
        if method == types.EXIT:
            return self._structure(raw)
        if self.shutdown_received:
            if is_request:
                raise RejectedMessage(JsonRpcInvalidRequest(
                    f"Invalid request: {method!r} after shutdown; only 'exit' is accepted"))
            log.info("dropped %s after shutdown", method)
            return None
        if method == types.INITIALIZE and is_request:
            if self.initialize_received:
                raise RejectedMessage(JsonRpcInvalidRequest(
                    "Invalid request: initialize may be sent once per connection"))
            message = self._structure(raw)
            self.initialize_received = True
            return message
        if not self.initialize_received:
            if is_request:
                raise RejectedMessage(JsonRpcServerNotInitialized(
                    f"Server not initialized: send 'initialize' before {method!r}"))
            log.info("dropped %s before initialize", method)
            return None
        message = self._structure(raw)
        if method == types.SHUTDOWN and is_request:
            self.shutdown_received = True
        return message

    def _structure(self, raw: dict) -> Any:
        try:
            return self.structure_message(raw)
        except Exception as exc:  # noqa: BLE001 - cattrs raises many kinds
            raise RejectedMessage(JsonRpcInvalidParams(
                f"Invalid params for {raw.get('method', 'a response')!r}: "
                f"{_explain(exc)}")) from None

    def structure_message(self, data: dict[str, Any]):
        """pygls' structuring without its error log (the caller answers and logs once)."""
        if "jsonrpc" not in data:
            return data
        if "id" in data:
            if "error" in data:
                return self._converter.structure(data, types.ResponseErrorMessage)
            if "method" in data:
                request_type = self.get_message_type(data["method"])
                if request_type is None:  # unknown method: answered -32601 by dispatch
                    return self._converter.structure({"params": None, **data},
                                                     _generic("request"))
                return self._converter.structure(data, request_type)
            response_type = self._result_types.pop(data["id"], None) or _generic("response")
            return self._converter.structure(data, response_type)
        notification_type = self.get_message_type(data.get("method", ""))
        if notification_type is None:
            return self._converter.structure({"params": None, **data}, _generic("notification"))
        return self._converter.structure(data, notification_type)

    # --- answers ----------------------------------------------------------------------------------

    def _reject(self, msg_id: Any, error: JsonRpcException) -> None:
        log.warning("rejected request %s: %s", _shown(msg_id), error.message)
        self._reply_error(msg_id, error)

    def _reply_error(self, msg_id: Any, error: JsonRpcException) -> None:
        # A plain object: JSON-RPC wants "id": null when the id could not be read, and the
        # converter would leave a None id out.
        self._send_data({"jsonrpc": "2.0", "id": msg_id,
                         "error": self._converter.unstructure(error.to_response_error())})

    def _send_handler_result(self, future: Future[Any], *, msg_id) -> None:
        """Answer a request from its handler's future; one log line per failure (pygls logs
        a traceback for each, and reports it a second time)."""
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            self._send_response(msg_id, error=JsonRpcRequestCancelled(
                f'Request with id "{msg_id}" is canceled').to_response_error())
            return
        exc = future.exception()
        if exc is None:
            self._send_response(msg_id, result=future.result())
            return
        if isinstance(exc, JsonRpcException):
            log.warning("request %s failed: %s", _shown(msg_id), exc.message)
            self._send_response(msg_id, error=exc.to_response_error())
            return
        self._log_crash(f"request {_shown(msg_id)}", exc)
        error = JsonRpcInternalError(f"Internal error: {type(exc).__name__}: {exc}")
        self._send_response(msg_id, error=error.to_response_error())

    def _check_handler_result(self, future: Future[Any]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            self._log_crash("a notification handler", exc)

    def _log_crash(self, where: str, exc: BaseException) -> None:
        """A handler's bug: the first traceback of each kind, then one line per repeat."""
        frames = traceback.extract_tb(exc.__traceback__)
        signature = f"{type(exc).__name__}@{frames[-1].filename}:{frames[-1].lineno}" if (
            frames) else type(exc).__name__
        if signature in self._logged_crashes:
            log.error("%s failed: %s: %s", where, type(exc).__name__, exc)
            return
        self._logged_crashes.add(signature)
        log.error("%s failed", where, exc_info=exc)

    # --- commands -------------------------------------------------------------------------------

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        """pygls' command dispatch, with missing ``arguments`` counted as none (pygls would
        call the handler without its arguments and answer -32603)."""
        if params.arguments is None:
            params = attrs.evolve(params, arguments=[])
        return (yield from super().lsp_workspace__execute_command(params))

    # --- lifecycle --------------------------------------------------------------------------------

    @lsp_method(types.EXIT)
    # pygls' own lsp_exit is a generator (it yields to a user EXIT handler, then exits the
    # process); this one replaces it with a plain handler on purpose, and pygls' dispatch
    # accepts either kind, so the narrower signature is safe.
    def lsp_exit(self, *args) -> None:  # type: ignore[override]
        """Ask the server to stop; the stdio loop cleans up and ends the process."""
        self.exit_received = True
        self._server.request_stop(0 if self.shutdown_received else 1, "exit")


def _explain(exc: Exception) -> str:
    """One line saying what in the params is wrong (cattrs nests its errors)."""
    try:
        from cattrs.v import transform_error

        lines = transform_error(exc)
    except Exception:  # noqa: BLE001 - not a cattrs error
        lines = []
    text = "; ".join(line.replace("@ $.", "@ ") for line in lines[:3]) if lines else (
        f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 300 else text[:297] + "..."


def _generic(kind: str):
    from pygls.protocol.json_rpc import (
        JsonRPCNotification,
        JsonRPCRequestMessage,
        JsonRPCResponseMessage,
    )

    return {"request": JsonRPCRequestMessage, "response": JsonRPCResponseMessage,
            "notification": JsonRPCNotification}[kind]
