"""thinkfast.engine.local: the numpy runtime behind `LocalEngine`.

One module per job, nano-vllm style: `engine` (the async bridge and request validation),
`scheduler` (the worker thread's admission and decode loop), `sequence` (a request's rows,
stop strings, streamed text), `output` (rows -> Generation), `batch` (the running batch
and its KV cache), `prefix_cache` (computed prompt KV kept for reuse), `blas` (the BLAS
thread count), `model` (the transformer math), `sampling`, `config` (HF config ->
ModelArgs), `tokenizer` and `chat_template` (text <-> ids), `cli` (`thinkfast generate`).
"""

from .engine import LocalEngine
from .scheduler import BatchRecord

__all__ = ["BatchRecord", "LocalEngine"]
