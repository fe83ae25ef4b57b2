"""The gate refuses code that reaches outside what a policy needs, before it runs anywhere."""

from __future__ import annotations

import pytest

from promptpo import gate
from promptpo.extract import extract
from promptpo.outcome import Outcome

ACT = "\n\ndef act(obs):\n    return 0\n"

EVASIONS = {
    "random_private_os": "import random\nclass Policy:\n    def reset(self):\n        random._os.system('touch marker')\n"
                         "    def act(self, obs):\n        return 0\n",
    "vars_builtins_import": "import random\nm = (vars(random.__builtins__) if not isinstance(random.__builtins__, dict) "
                            "else random.__builtins__)['__im' + 'port__']('o' + 's')" + ACT,
    "import_os": "import os" + ACT,
    "import_subprocess_as": "import subprocess as np" + ACT,
    "from_os_import": "from os import system" + ACT,
    "dunder_import_call": "m = __import__('os')" + ACT,
    "numpy_ctypeslib": "import numpy as np\nc = np.ctypeslib.ctypes" + ACT,
    "numpy_load_file": "import numpy as np\nx = np.load('/etc/passwd')" + ACT,
    "numpy_fromfile": "import numpy as np\nx = np.fromfile('/etc/passwd', dtype=np.uint8)" + ACT,
    "numpy_testing_route": "import numpy as np\nx = np.testing" + ACT,
    "numpy_submodule_import": "import numpy.f2py" + ACT,
    "from_numpy_import_load": "from numpy import load" + ACT,
    "star_import": "from math import *" + ACT,
    "relative_import": "from . import helpers" + ACT,
    "subclasses_walk": "x = ().__class__.__base__.__subclasses__()" + ACT,
    "type_mro_dunder": "x = type(1).__mro__" + ACT,
    "type_mro_method": "x = type(1).mro()[-1]" + ACT,
    "getattr_string_built": "import numpy as np\nf = getattr\nc = f(np, 'c' + 'typeslib')" + ACT,
    "format_attribute_field": "f = '{0.' + '_' * 2 + 'class' + '_' * 2 + '}'\nx = f.format(1)" + ACT,
    "format_literal_field": "x = '{0.real.imag}'.format(1)" + ACT,
    "join_name_globals": "name = ''.join(['__', 'built', 'ins', '__'])\nb = globals()[name]" + ACT,
    "decorator_eval": "@eval\ndef f():\n    pass" + ACT,
    "lambda_default_exec": "def act(obs, _k=(lambda: exec('import os'))):\n    return 0\n",
    "fullwidth_homoglyph_exec": "ｅｘｅｃ('import os')" + ACT,
    "cyrillic_identifier": "import numpy as np\nх = 1" + ACT,
    "bidi_override_comment": "x = 1  # \u202e } ⁦ if admin: ⁩ ⁦ begin\n" + ACT,
    "zero_width_in_string": "x = 'a\u200bb'" + ACT,
    "generator_frame_globals": "g = (i for i in ())\nb = g.gi_frame.f_globals" + ACT,
    "traceback_frame": "try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__.tb_frame" + ACT,
    "module_route_sys": "import functools\nm = functools.sys" + ACT,
    "open_host_file": "secret = open('/etc/passwd').read()" + ACT,
    "breakpoint_call": "breakpoint()" + ACT,
    "function_globals": "import random\ng = random.Random.seed.__globals__" + ACT,
    "super_getattribute": "class Policy:\n    def act(self, obs):\n        return super().__getattribute__('x')\n",
    "class_bases": "class Policy:\n    def act(self, obs):\n        return self.__class__.__bases__\n",
    "builtin_self": "m = print.__self__" + ACT,
    "compile_exec": "c = compile('import os', 'x', 'exec')" + ACT,
    "dunder_subscript_key": "b = {}['__builtins__']" + ACT,
    "exit_in_act": "def act(obs):\n    exit(3)\n",
    "operator_attrgetter": "import operator\nf = operator.attrgetter('system')" + ACT,
    "metaclass": "class M(type):\n    pass\nclass Policy(metaclass=M):\n    def act(self, obs):\n        return 0\n",
    "private_of_argument": "def act(obs):\n    return obs._base\n",
    "dataclasses_route_builtins": "import dataclasses\nb = dataclasses.re.enum.bltns" + ACT,
}

CLEAN = {
    "class_with_private_state": "import numpy as np\nfrom collections import deque\n\n\nclass Policy:\n"
                                "    def __init__(self):\n        super().__init__()\n        self._history = deque(maxlen=4)\n"
                                "    def reset(self):\n        self._history.clear()\n"
                                "    def act(self, obs):\n        self._history.append(obs)\n"
                                "        return np.clip(np.asarray(obs[:4]) * 10.0, -1, 1)\n",
    "formats_and_fstrings": "import math\n\n\ndef act(obs):\n    label = '{:.2f} {}'.format(math.pi, 3)\n"
                            "    text = f'{obs[0]:.3f}'\n    return int(obs[2] > 0)\n",
    "numpy_submodules": "import numpy as np\nfrom numpy.linalg import norm\n\nrng = np.random.default_rng(0)\n\n\n"
                        "def act(obs):\n    return float(norm(np.fft.rfft(obs)[:1])) + rng.normal()\n",
    "main_guard_and_typing": "from typing import NamedTuple, Optional\n\n\nclass Gains:\n"
                             "    k: float = 1.0\n\n\ndef act(obs, gains: Optional[Gains] = None):\n    return 0\n\n\n"
                             "if __name__ == '__main__':\n    print(act([0]))\n",
    "alias_entry": "class Controller:\n    def act(self, obs):\n        return 0\n\n\nPolicy = Controller\n",
    "inherited_act": "class Base:\n    def act(self, obs):\n        return 0\n\n\nclass Policy(Base):\n    pass\n",
}


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_every_evasion_is_refused_with_its_line_and_rule(name):
    answer = f"```python\n{EVASIONS[name]}```"
    extracted = extract(answer)
    assert extracted.outcome is Outcome.REFUSED, (name, extracted.outcome, extracted.message)
    assert extracted.message.startswith("refused before running")
    first = gate.check(extracted.code)[0]
    assert f"line {first.line}:" in extracted.message and f"({first.rule})" in extracted.message


def test_at_least_25_evasions_in_the_table():
    assert len(EVASIONS) >= 25


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_what_a_policy_legitimately_needs_passes(name):
    extracted = extract(f"```python\n{CLEAN[name]}```")
    assert extracted.outcome is Outcome.OK, (name, extracted.message)
    assert extracted.entry in ("Policy", "act")


def test_the_verdict_and_the_repair_message_name_the_line():
    found = gate.check("import numpy as np\n\nx = np.ctypeslib\nimport os\n")
    assert [v.line for v in found] == [3, 4]
    assert gate.verdict(found).startswith("refused: line 3:") and "(+1 more)" in gate.verdict(found)
    assert gate.verdict([]) == "passed"


def test_unparseable_or_absurdly_deep_code_is_refused_not_raised():
    assert gate.check("def (:\n")[0].rule == "syntax"
    deep = "x = " + "-" * 200_000 + "1\n"
    assert gate.check(deep)  # refused (too deep to parse or to check), no RecursionError
