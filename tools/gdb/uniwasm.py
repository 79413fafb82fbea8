# gdb helper for uniwasm images, loaded by the command line `uniwasm boot --gdb`
# prints. The ELF it goes with (kernel.gdb.elf) names functions as
# AssemblyScript does (main/Conn#write); this filter adds each frame's source
# file and line from kernel.gdb.json beside it, so `bt` shows the app's
# source. The line is where the function's code starts: wasm2c's C keeps no
# finer positions.
import json
import os

import gdb
from gdb.FrameDecorator import FrameDecorator

_tables = {}


def _table():
    path = gdb.current_progspace().filename
    if not path:
        return {}
    if path not in _tables:
        side = os.path.splitext(path)[0] + ".json"
        try:
            with open(side) as f:
                _tables[path] = json.load(f)
        except OSError:
            _tables[path] = {}
    return _tables[path]


class _SourceFrame(FrameDecorator):
    def __init__(self, base, name, loc):
        super().__init__(base)
        self._name = name
        self._loc = loc

    def function(self):
        return self._name

    def filename(self):
        return self._loc["file"]

    def line(self):
        return self._loc["line"]


class UniwasmFrames:
    """Frames of AssemblyScript functions carry their source location."""

    def __init__(self):
        self.name = "uniwasm"
        self.priority = 100
        self.enabled = True
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        table = _table()
        for f in frames:
            # without C line information gdb hands out the pc; the frame knows the (minimal) symbol
            name = f.inferior_frame().name()
            loc = table.get(name) if name else None
            yield _SourceFrame(f, name, loc) if loc else f


class WhereIs(gdb.Command):
    """uniwasm-where NAME: the source file and line of an AssemblyScript function."""

    def __init__(self):
        super().__init__("uniwasm-where", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        loc = _table().get(arg.strip().strip("'"))
        print(f"{arg}: {loc['file']}:{loc['line']}" if loc else f"{arg}: no source location known")


UniwasmFrames()
WhereIs()
