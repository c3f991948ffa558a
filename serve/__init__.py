"""thinkfast.serve: the OpenAI-compatible HTTP server, a layer above the engine.

`server` (the starlette app, auth, body limits, `serve`, `running_server`), `api`
(request schemas, response and error bodies, no web framework), `stream` (SSE streaming
of completions), `cli` (the `thinkfast serve` command); strategies served as models:
`scaffold_spec` (which strategy a request selects), `scaffold` (running it),
`scaffold_routes`, `scaffold_response`, `scaffold_stream`; `upstream` (the
`--upstream` endpoint pool). Nothing in thinkfast imports this
package but the CLI; starlette and uvicorn come with thinkfast[serve] and are imported
only when a server is built.
"""
