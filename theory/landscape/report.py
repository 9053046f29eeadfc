"""The text ``python -m theory.landscape COMMAND`` prints for a result (without ``--json``):
a few readable lines per command, and for ``train`` and ``precondition`` how many restarts
converged within their cap."""

import numpy as np

__all__ = ["summary", "convergence_text"]


def _g(value):
    """``value`` in ``%g`` form, or ``n/a`` where it overflowed (``null`` in the result)."""
    return "n/a (not finite)" if value is None else f"{value:.6g}"


def summary(command, result):
    """A few readable lines about ``result`` of ``command``."""
    mean = lambda x: np.mean(np.asarray(x, dtype=float), axis=0)  # noqa: E731
    if command == "surface":
        lines = [f"closed-form surface {len(result['w1'])}x{len(result['w2'])}, Monte-Carlo "
                 f"relative RMS error {result['mc_error']:.3g} (where the inner loop "
                 f"contracts: {result['mc_error_stable']:.3g})",
                 f"minimiser circle radius {result['minimiser_radius']:.4f}; final (w1, w2):"]
        lines += [f"  {w1: .6f} {w2: .6f}" for w1, w2 in result["final"]]
    elif command == "train":
        names = result["names"]
        lines = ["restart " + " ".join(f"{n:>12}" for n in names) + "   final loss"]
        diverged = {d["restart"]: d for d in result["diverged"]}
        for r, (row, loss) in enumerate(zip(result["params"], result["final_loss"], strict=True)):
            if r in diverged:
                start = ", ".join(f"{n}={v:.4g}" for n, v in
                                  zip(names, diverged[r]["start"], strict=True))
                lines.append(f"{r:7d} diverged at iteration {diverged[r]['iteration']} "
                             f"(started at {start})")
            else:
                lines.append(f"{r:7d} " + " ".join(f"{v:12.6f}" for v in row) + f"   {loss:.6g}")
        if diverged:
            lines.append(f"{len(diverged)} of {len(result['params'])} restarts diverged "
                         "(lower --lr, --alpha or --init-scale to keep them)")
        lines.append(convergence_text(result))
        if "final_accuracy" in result and len(diverged) < len(result["params"]):
            lines.append(f"mean accuracy after adaptation "
                         f"{np.nanmean(np.asarray(result['final_accuracy'], float)):.4f}")
    elif command == "curves":
        lin = result["linear"]
        lines = [f"k = {result['k']}", f"linear shallow loss {mean(lin['shallow']).round(6)}",
                 f"linear deep    loss {mean(lin['deep']).round(6)}"]
        for name, log in result.get("logistic", {}).items():
            lines.append(f"{name:6s} loss {mean(log['loss']).round(4)} accuracy "
                         f"{mean(log['accuracy']).round(4)}")
    elif command == "sweep":
        lines = ["alpha      shallow   R1 floor      deep"]
        lines += [f"{a:5.2f} {s:10.6f} {f:10.6f} {d:9.2e}" for a, s, f, d in
                  zip(result["alphas"], result["shallow"], result["shallow_floor"],
                      result["deep"], strict=True)]
    elif command == "collapse":
        lines = [f"deep post-adaptation loss      {mean(result['deep']):.3g}",
                 f"collapsed (same alpha)         {mean(result['collapsed']):.6f}",
                 f"R1 prediction at W             {mean(result['collapsed_predicted']):.6f}",
                 f"best shallow (R1 floor)        {result['shallow_floor']:.6f}"]
        if "logistic" in result:
            log = result["logistic"]
            lines += [f"LogR+LinNet accuracy after K steps "
                      f"{mean(log['linnet_accuracy'])[-1]:.4f}, collapsed to LogR "
                      f"{mean(log['collapsed_accuracy'])[-1]:.4f}"]
    elif command == "precondition":
        how = result["expectation"]
        final = np.round(np.asarray(result["final_loss"], dtype=float), 8).tolist()
        train = np.asarray(result["train_loss"], dtype=float)
        lines = [f"{result['method']} depth {result['depth']}, K = {result['steps']}: final loss "
                 f"per restart {final}"
                 f" (E over a: {how['kind']}" + (f", {how['nodes']} nodes)" if how["nodes"]
                                                 else ")"),
                 convergence_text(result),
                 *([f"Monte Carlo: final losses re-estimated on fresh tasks, standard errors "
                    f"{np.round(np.asarray(result['final_loss_stderr'], dtype=float), 8).tolist()}"
                    f"; on the training tasks {np.round(train, 8).tolist()} (a gap: raise --tasks)"]
                   if how["kind"] == "monte carlo" else []),
                 f"diverged restarts {result['diverged']}; shallow floor (R5a) "
                 f"{_g(result['floor'])}; Meta-SGD floor (R5b, K = 1) {result['floor_metasgd']}",
                 f"best restart {result['best_restart']}: ||P - (alpha Sigma)^-1|| / "
                 f"||(alpha Sigma)^-1|| = {result['relative_error']}"]
    else:
        lines = [f"final effective step: deep {mean(result['deep'][-1]):.4f}, "
                 f"Meta-SGD {mean(result['metasgd'][-1]):.4f} (units of 1/sigma2)"]
    return "\n".join(lines)


def convergence_text(result):
    """How many restarts of ``result`` (``precondition`` or ``train``) did not converge: the
    line the text output gives it."""
    converged, cap = result["converged"], result.get("config", result)["iterations"]
    if converged is None:
        return ("convergence not judged: on sampled meta-batches the meta-gradient is a noisy "
                "estimate (use the exact population objective)")
    restarts, diverged = len(converged), len(result["diverged"])
    missed = restarts - sum(converged) - diverged
    stopped = [i for i, c in zip(result["stopped_at"], converged, strict=True) if c]
    where = f", the last at iteration {max(stopped)}" if stopped else ""
    if missed == 0:
        return (f"{sum(converged)} of {restarts} restarts converged (tol "
                f"{result['tol']:g}{where})" + (f"; {diverged} diverged" if diverged else ""))
    return (f"{missed} of {restarts} restarts did not converge: meta-gradient norm and loss "
            f"change still above tol {result['tol']:g} at the cap of {cap} iterations (raise "
            "--iterations or --lr)" + (f"; {diverged} diverged" if diverged else ""))
