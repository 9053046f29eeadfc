"""theory.paper: the paper's CNN tables, from plan to markdown.

Everything about Tables 1 and 2 of the paper lives here: its numbers, the sweep that
reproduces them (plan, budgets, execution on Dask), the reading of records into table cells
(one function for the figures, the README block and ``paper_repro.md``), the ordering verdicts
and the markdown. Imports run one way: ``theory.engine`` -> ``theory.paper`` ->
``theory.figures``. Command line: ``python -m theory.paper {plan,run,status,summary,repro}``.

Modules
-------
numbers    the paper's 39 numbers: ``TABLE1[(dataset, method, layers)]``, ``TABLE2[(dataset,
           method)]``, ``LABEL`` (method names: ``plan.METHODS``, the one vocabulary)
plan       ``make_plan(budget)`` -> runs; ``BUDGETS`` (one table), ``METHODS``,
           ``method_of(config)``, ``estimate_seconds``, ``describe``
records    record paths, ``status(run)``, ``write_outcome``, ``lr_winners``, ``assign_lrs``,
           ``copy_checkpoints``
execute    ``train_run`` (the one task), ``executor`` (LocalCluster, a scheduler address, or
           serial), ``execute_all``, ``run_sweep``
cells      ``grouped(results_dir, dataset) -> {budget: {(method, layers): cell}}``,
           ``cells(..., budget=)``, ``preferred`` (the budget a claim or figure reads),
           ``summarise``, ``curve`` and ``adaptation`` (adaptation curves)
verdicts   ``claims(cells) -> [Claim]``, ``adaptation_claim(curves)``, ``compare``
render     ``render(results_dir)``: markdown tables per dataset and budget, paper beside
           ours, and verdicts
repro      ``update(paper_repro.md, README.md, results_dir)``: the generated rows and block
cli        ``main(argv)``
"""
