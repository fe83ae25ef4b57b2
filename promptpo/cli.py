"""The ``promptpo`` command. Heavy modules (simulators, litellm) load inside the commands only,
so ``promptpo --help`` answers at once."""

from __future__ import annotations

import os
import sys

import click

from promptpo.errors import PromptpoError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, no_args_is_help=True)
@click.version_option(package_name="promptpo")
def cli() -> None:
    """promptpo: an LLM writes, sandbox-runs and refines reinforcement-learning policies."""


def _register() -> None:
    from promptpo.commands import (baseline, bench, finetune, inspect, library, optimize, play, prompt, runs, sandbox,
                                   schedule, ui, verify)

    for command in (optimize.optimize, optimize.envs, prompt.prompt, runs.runs, inspect.show, inspect.audit,
                    inspect.diff, verify.verify, verify.export, play.play, runs.report, runs.dataset, runs.resume,
                    baseline.baseline, finetune.finetune,
                    schedule.schedule,
                    baseline.compare_runs, bench.bench, library.library, sandbox.sandbox, ui.ui):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="promptpo", standalone_mode=False)
    except PromptpoError as err:
        print(f"promptpo: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:
        print(err.ctx.get_help() if err.ctx else "", file=sys.stderr)
        sys.exit(0)
    except click.UsageError as err:
        where = f" (see promptpo {err.ctx.info_name} --help)" if err.ctx and err.ctx.info_name != "promptpo" else \
            " (see promptpo --help)"
        print(f"promptpo: error: {err.format_message()}{where}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        print("promptpo: interrupted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("promptpo: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback on request
        if os.environ.get("PROMPTPO_DEBUG"):
            raise
        print(f"promptpo: internal error: {type(err).__name__}: {err} (set PROMPTPO_DEBUG=1 for the traceback "
              "and please report it)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
