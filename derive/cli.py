"""The command line: parse arguments, call the library, print, set the exit status.

Only this module prints or exits.  Errors of derive's own type become one
line on stderr and exit status 2; a failed check exits 1.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .spec import Spec

from . import __version__, names
from .cli_class import read_spec
from .errors import DeriveError, Undefined


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="derive", description=(
        "Exact, proven backpropagation worksheets: derive, compute, typeset and grade."))
    p.add_argument("--version", action="version", version=f"derive {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("formulas", help="print the derivation of a spec's network")
    f.add_argument("spec")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--latex", action="store_true", help="print the steps as LaTeX")
    g.add_argument("--json", action="store_true", help="print a JSON object")

    s = sub.add_parser("solve", help="print the answer key (the rounded chain) for the spec's (or drawn) parameters")
    s.add_argument("spec")
    s.add_argument("--json", action="store_true")
    s.add_argument("--exact", action="store_true", help="the unrounded values (full precision carried)")
    _param_source(s)

    c = sub.add_parser("check", help="finite-difference check and symbolic proof of the gradients")
    c.add_argument("spec")
    c.add_argument("--tol", type=float, default=1e-6, help="largest relative error accepted (1e-6)")
    _param_source(c)

    t = sub.add_parser("train", help="full-batch gradient descent on the spec's batch")
    t.add_argument("spec")
    t.add_argument("--epochs", type=int, default=5000)
    t.add_argument("--lr", type=float, help="learning rate (default: [exercise].learning_rate)")
    t.add_argument("--seed", type=int, default=0, help="draws the start when [params] is incomplete")
    t.add_argument("--json", action="store_true")
    t.add_argument("--plot", metavar="FILE", help="draw the loss curve into FILE.pdf or FILE.png (TeX)")

    from .cli_class import add_class_commands  # worksheets, grade, verify
    add_class_commands(sub)
    from .cli_code import add_code_commands  # check-code, init-code
    add_code_commands(sub)
    from .cli_gradescope import add_gradescope_commands  # gradescope, autograde
    add_gradescope_commands(sub)
    for name, command in sub.choices.items():
        if "spec" in {a.dest for a in command._actions}:
            command.add_argument("--force-large", action="store_true",
                                 help="lift the guards on a worksheet's size (network, batch, grid, roster)")
    return p


def _param_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, help="draw the parameters the spec does not fix")
    p.add_argument("--params", help="a student's params.json (from derive worksheets)")


def params_and_data(spec: Spec, args):
    """The spec's fixed parameters, a params.json, or a draw from --seed."""
    if getattr(args, "params", None):
        from .spec import load_params_json
        return load_params_json(args.params, spec)
    if getattr(args, "seed", None) is not None:
        from .randomize import draw_student
        d = draw_student(spec, args.seed)
        return d.params, d.data
    if not spec.is_fixed():
        raise DeriveError("not every parameter is fixed in [params]; pass --seed N to draw "
                          "them or --params FILE", file=spec.path, key="[graph].values" if spec.trace else "[params]")
    if spec.trace is not None:
        from .trace import fixed_values
        return fixed_values(spec), spec.data
    return spec.fixed_params(), spec.data


# --- formulas ------------------------------------------------------------------

def _plain(expr, d) -> str:
    """SymPy's plain text with ŷ written yhat (and y, yhat alone for one output)."""
    one = d.network.layers[-1] == 1
    import sympy as sp
    rename = {a: sp.Symbol("yhat" if one else f"yhat_{k + 1}", real=True) for k, a in enumerate(d.yhat)}
    if one:
        rename[d.y[0]] = sp.Symbol("y", real=True)
    return sp.sstr(expr.xreplace(rename))


def cmd_formulas(args) -> int:
    from .symbolic import derive_network
    spec = read_spec(args)
    d = derive_network(spec.network)
    from .latex import derivation_steps
    from .render import sheet_words, step_words
    words = sheet_words()  # the shipped text.tex's English
    steps = derivation_steps(d, spec.notation)  # in the spec's [notation], as its sheets print them
    if args.latex:
        for step in steps:
            said = step_words(step, words)
            print(f"% {said}\n\\[ {step.latex} \\]" if said else f"\\[ {step.latex} \\]")
        return 0
    if args.json:
        deltas = [_plain(e, d) for e in d.output_delta]
        print(json.dumps({
            "network": {"layers": list(spec.network.layers), "activations": list(spec.network.activations),
                        "loss": spec.network.loss, "bias": spec.network.bias},
            "output_delta": deltas[0] if len(deltas) == 1 else deltas,
            "output_delta_proved": d.chain.proved,
            "expressions": {n: _plain(d.expression(n), d) for n in _layered_names(d)},
            "steps": [{"words": step_words(s, words), "latex": s.latex} for s in steps],
        }, indent=2, ensure_ascii=False))
        return 0
    print(_formulas_text(spec, d))
    return 0


def _layered_names(d) -> list[str]:
    net = d.network
    return [n for n in names.expected(net.layers, net.bias) if names.parse(n).kind in
            ("z", "a", "loss", "delta", "dW", "db")]


def _formulas_text(spec: Spec, d) -> str:
    net = spec.network
    lines = [f"{'-'.join(map(str, net.layers))} network, activations {', '.join(net.activations)}, "
             f"loss {net.loss}, {'with' if net.bias else 'without'} biases", ""]
    heads = {"z": "Forward pass", "loss": "Loss of one example",
             "delta": "Backward pass (delta = dL/dz)", "dW": None, "db": None}
    for n in _layered_names(d):
        kind = names.parse(n).kind
        if heads.get(kind):
            lines += ["", heads[kind] + ":"] if len(lines) > 2 else [heads[kind] + ":"]
            heads[kind] = None
            if kind == "delta":
                lines.append(f"  output delta by the chain rule, simplified"
                             f" ({'proved' if d.chain.proved else 'NOT proved'} by SymPy):")
                one = len(d.chain.dL_dyhat) == 1
                lines += [f"    dL/dyhat{'' if one else f'_{k + 1}'} = {_plain(e, d)}"
                          for k, e in enumerate(d.chain.dL_dyhat)]
        lines.append(f"  {n} = {_plain(d.expression(n), d)}")
    return "\n".join(lines)


# --- solve, check, train -----------------------------------------------------------

def cmd_solve(args) -> int:
    from dataclasses import replace
    from .lab import exercise_key  # the lab sections' answers too (gradient check, training steps)
    spec = read_spec(args)
    params, data = params_and_data(spec, args)
    if args.exact:
        spec = replace(spec, exercise=replace(spec.exercise, rounding="exact"))
    k = exercise_key(spec, params, data)
    values = ({n: float(v) for n, v in k.unrounded.items()} if args.exact
              else {n: k.printed(n) for n in k.values})
    if args.json:
        print(json.dumps(values, indent=2))
        return 0
    width = max(map(len, values))
    for name, v in values.items():
        print(f"{name:<{width}}  {v!r}" if args.exact else f"{name:<{width}}  {v:>12}")
    return 0


def cmd_check(args) -> int:
    from .numeric import gradcheck, near_kinks
    from .symbolic import derive_network, prove_gradients
    if not 0 < args.tol < math.inf:  # with nan, no error is "≥ tol": every check passed
        raise DeriveError(f"expected a finite --tol > 0; got {args.tol}", key="--tol")
    spec = read_spec(args)
    params, data = params_and_data(spec, args)
    rows = gradcheck(spec.network, params, data)
    bad = [r for r in rows if r.rel_error >= args.tol]
    print(f"{'parameter':<12} {'analytic':>14} {'numeric':>14} {'rel. error':>11}")
    for r in rows:
        print(f"{r.name:<12} {r.analytic:>14.8g} {r.numeric:>14.8g} {r.rel_error:>11.2e}"
              + ("   <-- above tolerance" if r in bad else ""))
    if kinks := near_kinks(spec.network, params, data):
        print(f"note: {', '.join(kinks)} within 0.01 of a ReLU kink; differences there are unreliable")
    d = derive_network(spec.network)
    print(f"output delta closed form: {'proved' if d.chain.proved else 'NOT proved'} by SymPy")
    proof_ok = True
    if _small_enough(spec):
        proof = prove_gradients(d)
        proof_ok = all(proof.values())
        failed = [n for n, ok in proof.items() if not ok]
        print(f"recursive gradients = diff of the expanded loss: "
              f"{'proved for all ' + str(len(proof)) if proof_ok else 'NOT proved for ' + ', '.join(failed)}")
    else:
        print("recursive gradients: network too large to expand symbolically; checked numerically only")
    if bad:
        print(f"FAILED: {', '.join(r.name for r in bad)} above tolerance {args.tol:g}")
    return 0 if not bad and proof_ok and d.chain.proved else 1


def _small_enough(spec: Spec) -> bool:
    n = spec.network.layers
    return sum(a * b for a, b in zip(n, n[1:])) <= 40 and spec.network.depth <= 3


def cmd_train(args) -> int:
    from .train import initial_params, train
    spec = read_spec(args)
    params = spec.fixed_params() or initial_params(spec.network, args.seed)
    lr = args.lr if args.lr is not None else spec.exercise.learning_rate
    if args.epochs < 1 or not 0 < lr < math.inf:  # nan and inf trained to a loss of nan
        raise DeriveError("expected --epochs ≥ 1 and a finite --lr > 0", key="arguments")
    run = train(spec.network, params, spec.data, lr, args.epochs)
    if args.plot:
        from .losscurve import write_plot
        write_plot(run.losses, args.plot)
    if args.json:
        print(json.dumps({"losses": list(run.losses), "predictions": [list(p) for p in run.predictions],
                          "converged": run.converged, "diagnosis": run.diagnosis}))
        return 0
    every = max(1, args.epochs // 10)
    for epoch, loss in enumerate(run.losses):
        if epoch % every == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:>6}  loss {loss:.6f}")
    for x, p, y in zip(spec.data.x, run.predictions, spec.data.y):
        print(f"x = {list(x)}  prediction {[round(v, 4) for v in p]}  target {list(y)}")
    print(run.diagnosis)
    return 0


COMMANDS = {"formulas": cmd_formulas, "solve": cmd_solve, "check": cmd_check, "train": cmd_train}


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so every half-made folder is removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``derive``; returns the exit status."""
    args = _parser().parse_args(argv)
    from .cli_class import CLASS_COMMANDS
    from .cli_code import CODE_COMMANDS
    from .cli_gradescope import GRADESCOPE_COMMANDS
    previous = {s: signal.signal(s, _stop) for s in STOP_SIGNALS}
    try:
        return {**COMMANDS, **CLASS_COMMANDS, **CODE_COMMANDS, **GRADESCOPE_COMMANDS}[args.command](args)
    except DeriveError as e:
        print(f"derive: {e}", file=sys.stderr)
        return e.exit_status
    except Undefined as e:  # a spec's fixed parameters take a quantity beyond any value (ln 0, e^(10^12))
        where = f"{args.spec}: " if getattr(args, "spec", None) else ""
        print(f"derive: {where}[params]: the answer key {e}; expected parameters and data that give "
              "every quantity a value", file=sys.stderr)
        return DeriveError.exit_status
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except Stopped as e:
        print(f"derive: stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
