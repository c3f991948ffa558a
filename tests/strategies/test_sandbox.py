"""The Python sandbox refuses the network, files outside its folder and new processes,
and enforces its time and memory limits."""

import pytest
from thinkfast.orchestrator.sandbox import run_python


async def test_plain_code_runs_and_may_use_its_own_folder():
    result = await run_python("open('x.txt', 'w').write('hi')\nprint(open('x.txt').read(), 6 * 7)")
    assert result.ok and result.stdout.strip() == "hi 42"


@pytest.mark.parametrize(
    "code",
    [
        "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)",
        "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))",
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)",
    ],
)
async def test_network_is_refused(code):
    result = await run_python(code)
    assert not result.ok
    assert "network access is refused" in result.stderr


@pytest.mark.parametrize(
    "code",
    [
        "print(open('/etc/hostname').read())",
        "open('/tmp/thinkfast-sandbox-escape.txt', 'w').write('x')",
        "open('../escape.txt', 'w').write('x')",
        "import os\nprint(os.listdir('/'))",
        "import os\nos.remove('/tmp/anything')",
    ],
)
async def test_files_outside_its_folder_are_refused(code, tmp_path):
    result = await run_python(code)
    assert not result.ok
    assert "outside its folder is refused" in result.stderr


async def test_new_processes_are_refused():
    result = await run_python("import subprocess\nsubprocess.run(['true'])")
    assert not result.ok and "subprocess.Popen is refused" in result.stderr


async def test_time_limit_kills_it():
    result = await run_python("while True:\n    pass", timeout_s=0.5)
    assert result.timed_out and not result.ok


async def test_memory_limit_holds():
    result = await run_python("x = bytearray(1024 ** 3)", memory_mb=256)
    assert not result.ok and "MemoryError" in result.stderr
