"""Routes from code the gate passes to the host: each case is a program that, loaded in-process with
``load_policy(path, trusted=True)`` (or exported and imported), would run code on the host, read its files or
reach native memory. The gate must refuse every one before anything runs, and the same allow-list enforced at
run time (sandbox/guard.py, in the worker and in trusted loads) must stop the ones it can see.

The classes: ``self``/``cls`` that are not a method's own (rebound, aliased, a plain parameter, a staticmethod, a
foreign base, an unbound call with a foreign object); native code (numpy's ctypes bridges, ``__array_interface__``
over a raw address); string evaluation (annotations through ``typing.get_type_hints``, ``ForwardRef``,
``singledispatch``); lookups by string (``update_wrapper``, non-literal ``getattr``); classes built from a mapping
(three-argument ``type``, metaclasses, ``enum``'s functional API, ``make_dataclass``); modules passed on as values
or reached through another module (``typing.warnings``, ``numpy.ma``); carriage returns that hide lines.
"""

from __future__ import annotations

import builtins
import importlib
import subprocess
import sys
import textwrap
import types
import warnings

import pytest

from promptpo import gate, load_policy
from promptpo.errors import ConfigError
from promptpo.resources import sandbox_module

ACT = "\n\ndef act(obs):\n    return 0\n"
SHELL = "'touch ' + MARKER"  # what each payload would run, were it reached
KEY = "'_' * 2 + 'array_interface' + '_' * 2"


def program(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


ROUTES = {
    # self/cls that are not a method's own
    "self_rebound_to_a_module": """
        import random
        class Policy:
            def act(self, obs):
                self = random
                return self._os.system(SHELL)
        """,
    "self_rebound_to_numpy_ctypes": """
        import numpy as np
        class Policy:
            def act(self, obs):
                self = np.zeros(3)
                self = self.ctypes
                return self._ctypes.CDLL(None).system(SHELL.encode())
        """,
    "self_as_a_plain_parameter": """
        import random
        def run(self):
            return self._os.system(SHELL)
        """ + ACT,
    "self_in_a_staticmethod": """
        import numpy as np
        class Tool:
            @staticmethod
            def go(self):
                return self._ctypes
        """ + ACT,
    "self_of_a_lambda_in_a_method": """
        class Policy:
            def act(self, obs):
                peek = lambda self: self._base
                return 0
        """,
    "self_of_a_foreign_base": """
        import random
        class Policy(random.Random):
            def act(self, obs):
                return self._randbelow(2)
        """,
    "self_rebound_by_a_loop": """
        class Policy:
            def act(self, obs):
                for self in [obs]:
                    return self._base
        """,
    "self_rebound_by_a_walrus_in_a_comprehension": """
        class Policy:
            def act(self, obs):
                _ = [(self := v) for v in [obs]]
                return self._base
        """,
    "self_declared_global": """
        class Policy:
            def act(self, obs):
                global self
                return self._x
        """,
    "self_fed_by_a_decorator": """
        def feed(f):
            return lambda *a: f(1)
        class Policy:
            @feed
            def act(self, obs):
                return self._x
        """,
    "own_class_name_rebound_to_a_foreign_class": """
        import random
        class Policy:
            def act(self, obs):
                return self._randbelow(2)
        Policy = random.Random
        """,
    "unbound_method_called_with_a_forward_reference": """
        import typing
        class Policy:
            def peek(self):
                return self._evaluate({}, {}, frozenset())
            def act(self, obs):
                text = '_' * 2 + 'import' + '_' * 2 + "('os').system(" + SHELL + ")"
                return Policy.peek(typing.get_args(typing.List[text])[0])
        """,
    "unbound_method_called_with_a_module": """
        import random
        class Policy:
            def peek(self):
                return self._os
            def act(self, obs):
                return Policy.peek(random).system(SHELL)
        """,
    # modules as values, and modules reached through other modules
    "module_stored_in_a_variable": "import random\nr = random\nr._os.system(SHELL)" + ACT,
    "module_in_a_container": "import random\nbox = [random]" + ACT,
    "submodule_stored": "import numpy as np\nsub = np.random" + ACT,
    "module_name_rebound_as_a_parameter": "import random\n\ndef act(obs, random=None):\n    return 0\n",
    "typing_warnings_reads_host_files": "import typing\nline = typing.warnings.formatwarning('m', Warning, '/etc/shadow', 1)" + ACT,
    "typing_stdlib_re": "import typing\nr = typing.stdlib_re.compile('x')" + ACT,
    "numpy_ma": "import numpy as np\nm = np.ma.array([1])" + ACT,
    "polyutils_route": "import numpy as np\nw = np.polynomial.polynomial.pu" + ACT,
    "statistics_numbers": "import statistics\nn = statistics.numbers" + ACT,
    "module_route_by_from_import": "from typing import warnings" + ACT,
    "module_by_literal_getattr": "import typing\nw = getattr(typing, 'warnings')" + ACT,
    # native code
    "ndarray_ctypes_module": "import numpy as np\nnp.zeros(3).ctypes._ctypes.CDLL(None).system(SHELL.encode())" + ACT,
    "ndarray_ctypes_on_an_attribute": """
        import numpy as np
        class Policy:
            def __init__(self):
                self.a = np.zeros(3)
            def act(self, obs):
                return self.a.ctypes.data
        """,
    "bit_generator_ctypes": "import numpy as np\nf = np.random.PCG64().ctypes.next_double" + ACT,
    "bit_generator_cffi": "import numpy as np\nf = np.random.PCG64().cffi" + ACT,
    "as_strided_out_of_bounds": "import numpy as np\nv = np.lib.stride_tricks.as_strided(np.zeros(1), (10**6,))" + ACT,
    "array_interface_by_method": """
        import numpy as np
        class Raw:
            @property
            def __array_interface__(self):
                return {'data': (id(print), False), 'shape': (64,), 'typestr': '|u1', 'version': 3}
        view = np.asarray(Raw())
        """ + ACT,
    "array_interface_by_getattr_hook": """
        class Raw:
            def __getattr__(self, name):
                return {'data': (id(print), False), 'shape': (64,), 'typestr': '|u1', 'version': 3}
        """ + ACT,
    "array_interface_by_three_argument_type": f"""
        import numpy as np
        Raw = type('Raw', (), {{{KEY}: {{'data': (id(print), False), 'shape': (64,), 'typestr': '|u1', 'version': 3}}}})
        view = np.asarray(Raw())
        """ + ACT,
    "array_interface_by_the_metaclass_of_a_class": f"""
        class Base:
            pass
        Raw = type(Base)('Raw', (), {{{KEY}: {{}}}})
        """ + ACT,
    "array_interface_by_an_alias_of_type": f"""
        class Base:
            pass
        make = type(Base)
        Raw = make('Raw', (), {{{KEY}: {{}}}})
        """ + ACT,
    "type_passed_on": "def build(f):\n    return f('Raw', (), {})\nRaw = build(type)" + ACT,
    "enum_functional_api": f"import enum\nRaw = enum.Enum('Raw', [({KEY}, {{}})])" + ACT,
    "make_dataclass_namespace": f"import dataclasses\nRaw = dataclasses.make_dataclass('Raw', [], namespace={{{KEY}: {{}}}})" + ACT,
    "make_dataclass_imported": "from dataclasses import make_dataclass" + ACT,
    "class_keywords": "class Raw(object, flag=1):\n    pass" + ACT,
    "a_metaclass_from_typing": f"import typing\nRaw = typing.ABCMeta('Raw', (), {{{KEY}: {{}}}})" + ACT,
    "a_metaclass_imported": "from typing import NamedTupleMeta" + ACT,
    # string evaluation
    "get_type_hints_on_a_built_annotation": """
        import typing
        text = '_' * 2 + 'import' + '_' * 2 + "('os').system(" + SHELL + ")"
        def f(x: text):
            pass
        typing.get_type_hints(f)
        """ + ACT,
    "get_type_hints_imported_under_another_name": "from typing import get_type_hints as hints" + ACT,
    "get_type_hints_through_an_alias": "import typing as t\nhints = t.get_type_hints" + ACT,
    "get_type_hints_by_literal_getattr": "import typing\nhints = getattr(typing, 'get_type_hints')" + ACT,
    "forward_reference_evaluated": "import typing\nr = typing.ForwardRef('1')._evaluate({}, {}, frozenset())" + ACT,
    "singledispatch_reads_annotations": """
        import functools
        @functools.singledispatch
        def f(x):
            pass
        """ + ACT,
    "singledispatch_through_another_module": "import dataclasses\nsd = dataclasses.functools.singledispatch" + ACT,
    "update_wrapper_looks_names_up": """
        import functools
        class Box:
            pass
        functools.update_wrapper(Box(), print, assigned=('_' + 'x',), updated=())
        """ + ACT,
    # lookups by string
    "getattr_with_a_built_name": "import numpy as np\nname = 'ctypes' + 'lib'\nm = getattr(np, name)" + ACT,
    "getattr_aliased": "g = getattr\nm = g(print, 'x')" + ACT,
    "getattr_with_a_private_literal": "import random\nm = getattr(random, '_os')" + ACT,
    "getattr_by_keyword": "import random\nm = getattr(random, name='x')" + ACT,
    "hasattr_with_a_dunder_literal": "def act(obs):\n    return hasattr(obs, '__class__')\n",
    # found by red-teaming this gate (a helper attacking it): each ran a shell command, read or wrote memory, or got a
    # forbidden object in a trusted load before the gate learned its class
    "typing_get_origin_hands_back_type": """
import typing
import numpy as np

T = typing.get_origin(typing.Type[int])
KEY = '_' * 2 + 'array_interface' + '_' * 2
Secret = b"HELLO-SECRET-BYTES"
Raw = T('Raw', (), {KEY: {'data': (id(Secret) + 32, False), 'shape': (18,), 'typestr': '|u1', 'version': 3}})
view = np.asarray(Raw())
print("metaclass:", T, "read:", bytes(view.tolist()))

def act(obs):
    return 0
""" + ACT,
    "type_from_typing_then_fake_objects_to_exec": """
import typing
import random
import numpy as np

T = typing.get_origin(typing.Type[int])
KEY = '_' * 2 + 'array_interface' + '_' * 2


def view(addr, n, typestr):
    Raw = T('Raw', (), {KEY: {'data': (addr, False), 'shape': (n,), 'typestr': typestr, 'version': 3}})
    return np.asarray(Raw())


def word(addr):
    return int(view(addr, 1, '<u8')[0])


def fakeobj(addr):
    box = np.zeros(1, dtype=np.uint64)
    box[0] = addr
    return view(word(id(box) + 16), 1, '|O')[0]


seed = random.Random.seed                    # a plain Python function of the random module
g = fakeobj(word(id(seed) + 16))             # PyFunctionObject.func_globals (CPython 3.11)
real_builtins = g['_' * 2 + 'builtins' + '_' * 2]
real_builtins["exec"]("import os; os.system('touch MARKERPATH; cat /etc/hostname')", {"_" * 2 + "builtins" + "_" * 2: real_builtins})
""" + ACT,
    "type_leaked_through_own_eq_and_contains": """
class Catch:
    got = None
    def __contains__(self, item):
        Catch.got = item
        return True
    def __eq__(self, other):
        Catch.got = other
        return True


class Plain:
    pass


type(Plain) in Catch()
T1 = Catch.got
type(Plain) == Catch()
T2 = Catch.got
print("via in:", T1, "via ==:", T2, T1('Made', (), {'x': 1}))
""" + ACT,
    "cached_property_attrname_writes_a_dunder": """
import functools
import numpy as np

Secret = b"HELLO-SECRET-BYTES"


class Holder:
    data = functools.cached_property(lambda self: {'data': (id(Secret) + 32, False), 'shape': (18,),
                                                   'typestr': '|u1', 'version': 3})


prop = Holder.data
prop.attrname = '_' * 2 + 'array_interface' + '_' * 2
h = Holder()
h.data
print("read:", bytes(np.asarray(h).tolist()))
""" + ACT,
    "exception_obj_hands_back_the_real_module_and_an_unbound_method_reads_it": """
import random


class Peek:
    def os_of(self):
        return self._os


try:
    random.no_such_name
except AttributeError as err:
    real_random = err.obj

osm = Peek.os_of(real_random)
print("modules:", real_random, osm)
osm.posix_spawnp('sh', ['sh', '-c', 'touch MARKERPATH; cat /etc/hostname'], osm.environ)
""" + ACT,
    "dataclass_field_name_injected_into_generated_code": """
import dataclasses
import typing


@dataclasses.dataclass
class Base:
    a: typing.Any = 0


dataclasses.fields(Base)[0].name = "a,exec('import os; os.system(\"touch MARKERPATH; cat /etc/hostname\")')"


@dataclasses.dataclass(init=False, repr=False)
class Sub(Base):
    pass


Sub() == Sub()
""" + ACT,
    "ndarray_object_dtype_and_negative_offset": """
import random
import numpy as np

BUFFERS = [bytes(64 * 1024 * 1024), b'']   # a large one (mmap'd) and the static empty bytes object


def word(addr):                            # a negative offset is not bounds-checked
    buf = max((b for b in BUFFERS if id(b) + 32 > addr + 8), key=len)
    return int(np.ndarray((1,), np.uint64, buffer=buf, offset=addr - (id(buf) + 32))[0])


def fakeobj(addr):                     # an object array over plain bytes
    return np.ndarray((1,), object, buffer=np.array([addr], np.uint64))[0]


g = fakeobj(word(id(random.Random.seed) + 16))    # the random module's globals
b = g['_' * 2 + 'builtins' + '_' * 2]
b['exec']("import os; os.system('touch MARKERPATH; cat /etc/hostname')",
          {'_' * 2 + 'builtins' + '_' * 2: b})
""" + ACT,
    "ndarray_object_dtype_over_a_negative_offset": """
import random
import numpy as np

f = random.Random.seed                 # a Python function; its func_globals sits at offset 16 (CPython 3.11)
base = b'' if id(b'') > id(f) else bytes(1 << 26)
g = np.ndarray((1,), object, buffer=base, offset=id(f) + 16 - (id(base) + 32))[0]
b = g['_' * 2 + 'builtins' + '_' * 2]
b['exec']("import os; os.system('touch MARKERPATH; cat /etc/hostname')", {'_' * 2 + 'builtins' + '_' * 2: b})
""" + ACT,
    "subclass_of_typing_type_is_a_metaclass": """
import typing
import numpy as np


class Meta(typing.Type):
    pass


Secret = b"HELLO-SECRET-BYTES"
KEY = '_' * 2 + 'array_interface' + '_' * 2
Raw = Meta('Raw', (), {KEY: {'data': (id(Secret) + 32, False), 'shape': (18,), 'typestr': '|u1', 'version': 3}})
print("metaclass subclass:", Meta, "read:", bytes(np.asarray(Raw()).tolist()))
""" + ACT,
    "str_format_taken_unbound_reads_attribute_chains": """
import random

show = str.format
u = '_' * 2
field = '{0.' + u + 'globals' + u + '[_os].environ[HOME]} ' + '{0.' + u + 'globals' + u + '[_os]}'
print(show(field, random.Random.seed))
""" + ACT,
    "match_class_pattern_reads_any_attribute": """
import random

match random.Random.seed:
    case object(__globals__={'_os': object(system=run)}):
        run('touch MARKERPATH; cat /etc/hostname')
""" + ACT,
    "ndarray_object_dtype_fake_bytearray": """
import random
import numpy as np


def fakeobj(addr):                     # an object array over plain integers: any address becomes an object
    return np.ndarray((1,), object, buffer=np.array([addr], np.uint64))[0]


# a fake bytearray spanning the whole address space (CPython 3.11 PyByteArrayObject layout)
layout = np.array([1 << 40, id(bytearray), 1 << 62, 1 << 62, 0, 0, 0], np.uint64).tobytes()
mem = fakeobj(id(layout) + 32)


def word(addr):
    return int.from_bytes(mem[addr:addr + 8], 'little')


g = fakeobj(word(id(random.Random.seed) + 16))    # func_globals of a random-module function
b = g['_' * 2 + 'builtins' + '_' * 2]
b['exec']("import os; os.system('touch MARKERPATH; cat /etc/hostname')", {'_' * 2 + 'builtins' + '_' * 2: b})
""" + ACT,
    "ndarray_negative_offset_writes_another_objects_memory": """
import numpy as np

Pool = np.zeros(1 << 23)                       # 64 MiB, its own mapping
Secret = b"immutable-bytes!" + bytes(4000)     # > 512 bytes: malloc, in the heap below Pool


def below(addr, n, dtype, buf):                # a negative offset is not bounds-checked
    return np.ndarray((n,), dtype, buffer=buf, offset=addr - base_of(buf))


def base_of(buf):
    if isinstance(buf, bytes):
        return id(buf) + 32
    return int(below(id(buf) + 16, 1, np.uint64, b'' if id(b'') > id(buf) else bytes(1 << 26))[0])


view = below(id(Secret) + 32, 16, np.uint8, Pool)       # a writable view of another object's memory
view[:] = np.frombuffer(b"OVERWRITTEN-MEM!", np.uint8)
print("bytes object now reads:", Secret[:16])
""" + ACT,
    # found by the second round of red-teaming
    "ndarray_constructor_through_a_from_import": 'import random\nimport numpy as np\nfrom numpy import ndarray\n\n\ndef fakeobj(addr):\n    return ndarray((1,), object, buffer=np.array([addr], np.uint64))[0]\n\n\nlayout = np.array([1 << 40, id(bytearray), 1 << 62, 1 << 62, 0, 0, 0], np.uint64).tobytes()\nmem = fakeobj(id(layout) + 32)\n\n\ndef word(addr):\n    return int.from_bytes(mem[addr:addr + 8], \'little\')\n\n\ng = fakeobj(word(id(random.Random.seed) + 16))\nb = g[\'_\' * 2 + \'builtins\' + \'_\' * 2]\nb[\'exec\']("import os; os.system(\'touch MARKERPATH; cat /etc/hostname\')", {\'_\' * 2 + \'builtins\' + \'_\' * 2: b})' + "\n" + ACT,
    "module_as_a_class_attribute_by_an_import_in_the_class_body": 'import random\nimport numpy as np\n\n\nclass K:\n    import numpy as numpy_module\n\n\nm = K.numpy_module\nprint("module as a value:", m)\n\n\ndef fakeobj(addr):\n    return m.ndarray((1,), object, buffer=np.array([addr], np.uint64))[0]\n\n\nlayout = np.array([1 << 40, id(bytearray), 1 << 62, 1 << 62, 0, 0, 0], np.uint64).tobytes()\nmem = fakeobj(id(layout) + 32)\n\n\ndef word(addr):\n    return int.from_bytes(mem[addr:addr + 8], \'little\')\n\n\ng = fakeobj(word(id(random.Random.seed) + 16))\nb = g[\'_\' * 2 + \'builtins\' + \'_\' * 2]\nb[\'exec\']("import os; os.system(\'touch MARKERPATH; cat /etc/hostname\')", {\'_\' * 2 + \'builtins\' + \'_\' * 2: b})' + "\n" + ACT,
    "a_shadowed_repr_hands_back_type": 'import numpy as np\n\n\ndef repr(thing):\n    return thing\n\n\nT = repr(type(int))\nprint("type itself:", T)\nSecret = b"HELLO-SECRET-BYTES"\nKEY = \'_\' * 2 + \'array_interface\' + \'_\' * 2\nRaw = T(\'Raw\', (), {KEY: {\'data\': (id(Secret) + 32, False), \'shape\': (18,), \'typestr\': \'|u1\', \'version\': 3}})\nprint("read raw memory:", bytes(np.asarray(Raw()).tolist()))' + "\n" + ACT,
    "shadowed_builtins_hand_back_forbidden_values": 'import random\nimport numpy as np\n\n\ndef getattr(obj, name):\n    return obj\n\n\ndef isinstance(obj, kind):\n    return kind\n\n\nclass Peek:\n    def os_of(self):\n        return self._os\n\n\ndef super(cls, obj):\n    return cls\n\n\nm = getattr(random, "seed")\nprint("module as a value:", m)\nN = isinstance(0, np.ndarray)\nprint("ndarray constructor:", N((1,), object, buffer=np.array([id(print)], np.uint64))[0])\nP = super(Peek, 0)\nprint("own class as a value:", P, P.os_of)' + "\n" + ACT,
    "a_shadowed_builtin_then_type_to_exec": 'import random\nimport numpy as np\n\n\ndef repr(thing):\n    return thing\n\n\nT = repr(type(int))\nKEY = \'_\' * 2 + \'array_interface\' + \'_\' * 2\n\n\ndef view(addr, n, typestr):\n    Raw = T(\'Raw\', (), {KEY: {\'data\': (addr, False), \'shape\': (n,), \'typestr\': typestr, \'version\': 3}})\n    return np.asarray(Raw())\n\n\ndef word(addr):\n    return int(view(addr, 1, \'<u8\')[0])\n\n\ndef fakeobj(addr):\n    box = np.zeros(1, dtype=np.uint64)\n    box[0] = addr\n    return view(word(id(box) + 16), 1, \'|O\')[0]\n\n\ng = fakeobj(word(id(random.Random.seed) + 16))\nb = g[\'_\' * 2 + \'builtins\' + \'_\' * 2]\nb["exec"]("import os; os.system(\'touch MARKERPATH; cat /etc/hostname\')", {"_" * 2 + "builtins" + "_" * 2: b})' + "\n" + ACT,
    "one_name_bound_to_two_modules": 'import numpy as m\n\narr = m.ndarray((1,), object, buffer=m.array([id(print)], m.uint64))\nprint("ndarray constructor:", arr[0])\n\n\ndef unused():\n    import random as m\n    return m.random()' + "\n" + ACT,
    "ndarray_resize_without_refcheck_leaves_a_dangling_view": 'import random\nimport numpy as np\n\n\ndef fakeobj(addr):\n    for _ in range(50):\n        a = np.zeros(64, np.uint64)\n        v = a[:]                              # a view of a\'s memory\n        a.resize(1 << 16, refcheck=False)     # a moves; the view now points at freed memory\n        o = np.empty(64, object)              # an object array takes the freed block\n        v[0] = addr\n        if int(v[1]) == id(None):\n            got = o[0]\n            v[0] = id(None)                   # o drops a reference to None, not to the fake object\n            return got\n    return None\n\n\nlayout = np.array([1 << 40, id(bytearray), 1 << 62, 1 << 62, 0, 0, 0], np.uint64).tobytes()\nmem = fakeobj(id(layout) + 32)\nprint("fake bytearray over the address space:", len(mem))\n\n\ndef word(addr):\n    return int.from_bytes(mem[addr:addr + 8], \'little\')\n\n\ng = fakeobj(word(id(random.Random.seed) + 16))\nb = g[\'_\' * 2 + \'builtins\' + \'_\' * 2]\nb[\'exec\']("import os; os.system(\'touch MARKERPATH; cat /etc/hostname\')", {\'_\' * 2 + \'builtins\' + \'_\' * 2: b})' + "\n" + ACT,
    "mt19937_state_setter_reads_out_of_bounds": 'import numpy as np\n\nMASK = 0xFFFFFFFF\nbg = np.random.MT19937(0)\nstate = bg.state\n\n\ndef untemper(y):\n    y ^= y >> 18\n    y ^= (y << 15) & 0xEFC60000\n    t = y\n    for _ in range(5):\n        t = y ^ ((t << 7) & 0x9D2C5680)\n    y = t & MASK\n    t = y\n    for _ in range(3):\n        t = y ^ (t >> 11)\n    return t & MASK\n\n\ndef word_at(pos):                     # the 32-bit word at key[pos], any pos: the setter checks nothing\n    state[\'state\'][\'pos\'] = pos\n    bg.state = state\n    return untemper(int(bg.random_raw(1)[0]))\n\n\n# find the key array: the object\'s type pointer sits just before it, at some negative index\nkind = id(np.random.MT19937)\nfound = None\nfor k in range(1, 400):\n    lo, hi = word_at(-k - 1), word_at(-k)\n    if lo | (hi << 32) == kind:\n        found = k + 1\n        break\nkey_addr = id(bg) + 8 + 4 * found     # key[-found] is the type pointer at id(bg) + 8\nSecret = b"HOST-PROCESS-SECRET-" + bytes(1000)\nstart = id(Secret) + 32\nout = bytes(b for i in range(5) for b in word_at((start - key_addr) // 4 + i).to_bytes(4, "little"))\nprint("read another object\'s memory:", out)' + "\n" + ACT,
    "numpy_test_runs_doctests_of_a_file": '"""A policy.\n\n>>> import os; _ = os.system(\'touch MARKERPATH; cat /etc/hostname\')\n"""\nimport numpy as np\n\nif __name__.startswith("promptpo_policy"):\n    np.test(label="full", doctests=True, tests=["MARKERPATH"],\n            extra_argv=["-p", "no:cacheprovider", "-s"])' + "\n" + ACT,
    "numpy_test_loads_the_policy_as_a_pytest_plugin": 'import numpy as np\n\n\ndef pytest_configure(config):\n    here = config.rootpath\n    print("host file:", here.joinpath("/etc/hostname").read_text())\n    here.joinpath("MARKERPATH").write_text(\n        ">>> import os; _ = os.system(\'touch MARKERPATH; id\')\\n")\n\n\nif __name__.startswith("promptpo_policy"):\n    np.test(label="full", tests=["MARKERPATH"], extra_argv=["-p", __name__, "-p", "no:cacheprovider"])\n    np.test(label="full", tests=["MARKERPATH"], extra_argv=["-p", "no:cacheprovider", "-s"])' + "\n" + ACT,
    "an_own_method_reached_through_a_class_that_is_not_own": 'import random\n\n\nclass A:\n    def peek(self):\n        return self._randbelow\n\n\nclass B(A):\n    pass\n\n\nB = B\nprint("foreign self:", B.peek(random.Random()))\n\n\nclass C(A):\n    pass\n\n\nclass D(C, random.Random):\n    pass\n\n\nprint("via foreign-based subclass:", D.peek(random.Random()))' + "\n" + ACT,
    "an_own_method_through_a_nested_class": 'import random\n\n\nclass Outer:\n    class Inner:\n        def peek(self):\n            return self._randbelow\n\n\nprint("nested class, foreign self:", Outer.Inner.peek(random.Random()))\ncls = Outer.Inner\nprint("own class as a value:", cls)' + "\n" + ACT,
    # what a reader sees is not what runs
    "lone_carriage_return_hides_a_line": "def act(obs):\n    x = 1  # harmless\r    import os\n    return 0\n",
}

HARMLESS = {
    "named_tuples": """
        import collections
        from typing import NamedTuple
        class Gains(NamedTuple):
            kp: float = 1.0
            kd: float = 0.1
        Pair = collections.namedtuple("Pair", "a b")
        def act(obs):
            g = Gains()._replace(kp=2.0)
            p = Pair(1, 2)._asdict()
            return int(g.kp * obs[2] + p["a"] * 0 > 0)
        """,
    "hasattr_and_getattr_with_literal_names": """
        class Policy:
            def act(self, obs):
                if not hasattr(self, "phase"):
                    self.phase = 0
                self.t = getattr(self, "t", 0) + 1
                return 0
        """,
    "own_private_state_through_self_and_cls": """
        class Gains:
            def __init__(self, k=1.0):
                self.k = k
            def _scaled(self):
                return self._k2 if hasattr(self, "_k2") else self.k
        class Base:
            def __init__(self):
                self._t = 0
        class Policy(Base):
            _LIMIT = 3
            @classmethod
            def limit(cls):
                return cls._LIMIT
            @property
            def steps(self):
                return self._t
            def act(self, obs):
                self._t += 1
                later = lambda v: self._t + v
                return later(0) % 2
        """,
    "type_compared_and_tested": """
        import numpy as np
        def act(obs):
            if type(obs) is dict or isinstance(obs, type(np.zeros(1))):
                return 0
            print(type(obs), f"{type(obs)}")
            return 1
        """,
    "numpy_polynomials": """
        import numpy as np
        from numpy.polynomial import polynomial as P
        def act(obs):
            return float(P.polyval(0.5, [1, 2])) + float(np.polynomial.polynomial.polyval(0.1, [1]))
        """,
    "typing_annotations": """
        from typing import Dict, List, Optional, Tuple
        import typing
        def act(obs: typing.Any, hist: Optional[List[float]] = None) -> int:
            return 0
        """,
    "dir_in_a_debug_print": "def act(obs):\n    print(dir(obs)[:3])\n    return 0\n",
    "crlf_line_ends": "def act(obs):\r\n    return 0\r\n",
    "functools_cache": "import functools\n@functools.lru_cache(maxsize=None)\ndef gain(x):\n    return x * 2" + ACT,
    "special_methods": """
        class Vec:
            def __init__(self, x):
                self.x = x
            def __add__(self, other):
                return Vec(self.x + other.x)
            def __repr__(self):
                return f"Vec({self.x})"
        """ + ACT,
    "random_generators": """
        import random
        import numpy as np
        rng = np.random.default_rng(0)
        def act(obs):
            return int(rng.integers(2)) + random.randint(0, 0)
        """,
}


def test_the_gate_answers_for_an_own_class_stored_in_an_attribute():
    """It crashed on an assignment target that is not a name (the class handed on is refused, not raised)."""
    found = gate.check(program("""
        class PD:
            def __init__(self, kp):
                self.kp = kp
        class Policy:
            def __init__(self):
                self.controller_cls = PD
            def act(self, obs):
                return 0
        """))
    assert [v.rule for v in found] == ["class_value"]


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_the_gate_refuses_every_route(name):
    found = gate.check(program(ROUTES[name]))
    assert found, f"{name} passed the gate"


def test_at_least_seventy_routes_in_the_table():
    assert len(ROUTES) >= 70


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_what_policies_commonly_write_passes(name):
    assert gate.check(program(HARMLESS[name])) == [], name


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_a_trusted_load_refuses_every_route_and_runs_nothing(name, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "best.py"
    text = program(ROUTES[name]).replace("MARKERPATH", str(marker)).replace("MARKER", repr(str(marker)))
    path.write_text(text, newline="")
    with pytest.raises(ConfigError, match="does not pass the gate"):
        load_policy(path, trusted=True)
    assert not marker.exists()


def guarded(code: str) -> dict:
    namespace = {"__builtins__": sandbox_module("guard").guarded_builtins(gate.guard())}
    exec(compile(code, "policy.py", "exec"), namespace)  # noqa: S102 - the guard under test
    return namespace


@pytest.mark.parametrize("code, error", [
    ("import typing\ntyping.get_type_hints", AttributeError),
    ("import functools\nfunctools.singledispatch", AttributeError),
    ("import functools\nfunctools.wraps", AttributeError),
    ("import dataclasses", ImportError),
    ("import typing\ntyping.warnings", AttributeError),
    ("import numpy as np\nnp.ma", AttributeError),
    ("import numpy as np\nnp.ctypeslib", AttributeError),
    ("import random\nrandom._os", AttributeError),
    ("import random\ngetattr(random, '_os')", AttributeError),
    ("getattr(print, 'ctypes')", AttributeError),
    ("name = '_' + 'x'\ngetattr(1, name)", AttributeError),
    ("import enum", ImportError),
    ("import os", ImportError),
    ("type('Raw', (), {})", TypeError),
    ("import typing\ntyping.ABCMeta", AttributeError),
    ("open('/etc/passwd')", NameError),
    ("eval('1')", NameError),
])
def test_the_guard_stops_at_run_time_what_it_can_see(code, error):
    with pytest.raises(error):
        guarded(code)


def test_the_guards_errors_hand_back_nothing():
    """An AttributeError names the object it was raised for (.obj): the guard's never holds the real module (the
    facade the program already has, at most)."""
    import random
    import sys

    for code in ("import random\nrandom.no_such_name", "import random\ngetattr(random, 'no_such_name')",
                 "import random\nrandom._os", "getattr(1, 'no_such_name')"):
        with pytest.raises(AttributeError) as err:
            guarded(code)
        assert err.value.obj is not random and err.value.obj is not sys.modules["random"], code


def test_a_trusted_load_runs_code_under_its_own_future_flags(tmp_path):
    """Annotations stay objects (this module's `from __future__ import annotations` does not leak into the code),
    and code that looks its own module up while it loads finds it."""
    path = tmp_path / "best.py"
    path.write_text("# env: gymnasium/CartPole-v1\nimport typing\n\n\ndef act(obs: typing.Any) -> int:\n"
                    "    return 1\n\n\nKIND = type(act.__annotations__) if False else None\n".replace(
                        "KIND = type(act.__annotations__) if False else None\n", ""))
    policy = load_policy(path, trusted=True)
    assert policy.act([0.0] * 4) == 1
    assert not isinstance(policy.module.act.__annotations__["obs"], str)


def test_the_guard_runs_what_policies_write():
    for name, code in HARMLESS.items():
        namespace = guarded(program(code))
        assert callable(namespace.get("act") or namespace.get("Policy")), name


# -- what is reachable at all --------------------------------------------------------------------------------
DANGEROUS_TYPES = ("ctypes", "_ctypes")
STRING_EVALUATORS = frozenset({"eval", "exec", "compile", "__import__", "_eval_type", "get_type_hints", "_evaluate",
                               "import_module"})
AUDITED = {"namedtuple"}
"""Functions that evaluate strings they build from names they check (collections.namedtuple validates every
field name as an identifier that is not a keyword first)."""


def _code_names(code: types.CodeType, acc: set) -> set:
    acc.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_names(const, acc)
    return acc


def _danger(value) -> str | None:
    if isinstance(value, types.ModuleType):
        return f"the module {value.__name__}"
    if isinstance(value, type) and issubclass(value, type):
        return "a metaclass (it builds classes from a mapping)"
    kind = value if isinstance(value, type) else type(value)
    if (getattr(kind, "__module__", "") or "").split(".")[0] in DANGEROUS_TYPES:
        return "native code (ctypes)"
    if any(value is v for v in (eval, exec, compile, open, builtins.__import__, getattr, setattr, vars, globals)):
        return "a builtin the gate forbids"
    function = getattr(value, "__func__", value)
    code = getattr(function, "__code__", None)
    if isinstance(code, types.CodeType) and getattr(function, "__name__", "") not in AUDITED:
        names = _code_names(code, set()) & STRING_EVALUATORS
        if names:
            return f"a function that evaluates strings ({', '.join(sorted(names))})"
    return None


def test_nothing_the_gate_lets_through_reaches_a_module_native_code_or_string_evaluation():
    """Walk what a program the gate passes can hold, five steps deep: every public value of each allowed module
    that is not a module or refused (those the gate resolves), instances a policy makes, the builtins it may use,
    then every attribute of those it may read — public ones, and private ones too, since a method's own ``self``
    may read those and an unbound call could hand it any object. Nothing reached may be a module, a metaclass,
    ctypes, a forbidden builtin or a function that evaluates strings."""
    import collections
    import functools
    import random
    import typing

    import numpy as np

    from promptpo.gate.modules import resolve

    start = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in sorted(gate.ALLOWED_MODULES):
            for name in dir(importlib.import_module(module)):
                if name.startswith("_") or name in gate.FORBIDDEN_ATTRIBUTES or resolve(module, name).refused:
                    continue
                value = getattr(importlib.import_module(module), name)
                if not isinstance(value, types.ModuleType):
                    start[f"{module}.{name}"] = value
        start.update({
            "ndarray": np.zeros(3), "generator": np.random.default_rng(0), "pcg64": np.random.PCG64(),
            "random": random.Random(), "deque": collections.deque(), "dtype": np.dtype("f8"),
            "forward_args": typing.get_args(typing.List["x"]),  # noqa: F821
            "optional": typing.Optional[int],
            "polynomial": np.polynomial.Polynomial([1, 2]), "lambda": lambda: 0, "generator_expr": (i for i in ()),
            "exception": ValueError(), "nditer": np.nditer(np.zeros(2)), "flat": np.zeros(3).flat,
            "matrix": np.matrix([[1]]), "partial": functools.partial(print), "counter": collections.Counter("ab"),
            "typevar": typing.TypeVar("T"), "namedtuple": collections.namedtuple("Pair", "a b")(1, 2),
            "seeds": np.random.SeedSequence(1), "legacy": np.random.RandomState(0), "vectorize": np.vectorize(abs),
            "cache": functools.lru_cache(lambda: 0), "errstate": np.errstate()})
        for name in dir(builtins):
            if name not in gate.FORBIDDEN_NAMES and not name.startswith("__") and name != "type":
                start[f"builtins.{name}"] = getattr(builtins, name)
        routes, seen = {}, set()
        queue = collections.deque((value, path, 0) for path, value in start.items())
        while queue:  # breadth first: each object is seen on its shortest route
            value, path, depth = queue.popleft()
            if id(value) in seen or depth > 5:
                continue
            seen.add(id(value))
            why = _danger(value)
            if why:
                routes[path] = why
                continue
            try:
                names = dir(value)
            except Exception:  # noqa: BLE001 - an object that cannot list itself leads nowhere
                continue
            for name in names:
                if gate.rules.DUNDER.fullmatch(name) or name in gate.FORBIDDEN_ATTRIBUTES:
                    continue
                try:
                    child = getattr(value, name)
                except Exception:  # noqa: BLE001 - a property that raises is no route
                    continue
                if child is not None and not isinstance(child, (int, float, complex, str, bytes, bool)):
                    queue.append((child, f"{path}.{name}", depth + 1))
    assert routes == {}, f"routes the gate lets through: {routes}"
    assert len(seen) > 20_000  # the walk went somewhere


def test_trusted_policies_that_policies_write_run_under_the_audit_hook(tmp_path):
    """Every harmless program loads in-process and acts, the audit hook armed, and the user's own code can still
    open files once the policy returned."""
    from promptpo.isolation import inprocess

    for name, code in HARMLESS.items():
        path = tmp_path / f"{name}.py"
        path.write_text(program(code))  # no env: the actions are not checked here
        policy = load_policy(path, trusted=True)
        policy.act([0.0, 0.1, 0.02, -0.1])
    (tmp_path / "user.txt").write_text("the user's own code is not watched")
    assert inprocess._ARMED.get() is False


@pytest.mark.parametrize("name", sorted(n for n in ROUTES if "MARKER" in ROUTES[n]))
def test_a_route_past_the_gate_still_runs_no_command_in_a_trusted_load(name, tmp_path):
    """Defence in depth: loaded past the gate (as if the gate had missed it), each route that ends in a command is
    stopped by the audit hook (its exec, compile, os.system, subprocess, import) before the command runs.

    Some routes write through memory numpy lets a program corrupt (object arrays over negative offsets, a resized
    array's dangling view): in a long-lived process they can bring the interpreter down. So each loads in a fresh
    interpreter of its own, as a user's would; the command must not have run, however that process ended."""
    marker = tmp_path / "pwned"
    code = program(ROUTES[name]).replace("MARKERPATH", str(marker)).replace("MARKER", repr(str(marker)))
    (tmp_path / "policy.txt").write_text(code)
    load = ("import sys\nfrom pathlib import Path\nfrom promptpo.isolation import inprocess\n"
            "from promptpo.policy.loader import _import\n"
            "folder = Path(sys.argv[1])\n"
            "try:\n    _import(folder / 'best.py', (folder / 'policy.txt').read_text(), None).act([0.0] * 4)\n"
            "except inprocess.PolicyForbidden:\n    print('forbidden')\n"
            "except Exception as err:  # the guard or the interpreter stopped it another way: as good\n"
            "    print('stopped:', type(err).__name__)\n")
    done = subprocess.run([sys.executable, "-c", load, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert not marker.exists(), (done.returncode, done.stdout[-500:], done.stderr[-1500:])
    last = (done.stdout.strip().splitlines() or [""])[-1]
    ran = last.startswith(("forbidden", "stopped:")) or done.returncode < 0  # loaded: refused, or brought down
    assert ran, (done.returncode, done.stdout[-500:], done.stderr[-1500:])
