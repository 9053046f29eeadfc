"""theory.paper: the paper's CNN tables, from plan to markdown.

Everything about Tables 1 and 2 of the paper lives here: its numbers, the sweep that
reproduces them (plan, budgets, execution on Dask), the reading of records into table cells
(one function for the figures, the README block and ``paper_repro.md``), the ordering verdicts
and the markdown. Imports run one way: ``theory.engine`` -> ``theory.paper`` ->
``theory.figures``. Command line: ``python -m theory.paper {plan,run,status,summary,repro}``.

Modules
-------
vocabulary the names every module shares: ``METHODS`` and their ``LABEL``, ``TABLES``,
           ``DATASETS``, the tables' methods, depths and cells, ``SETTING``, ``method_of``
numbers    the paper's 39 numbers: ``TABLE1[(dataset, method, layers)]``, ``TABLE2[(dataset,
           method)]`` (``table1``/``table2`` look them up)
budgets    ``BUDGETS`` (one table), ``budget(name)``, ``search_spec`` (grid or study, one shape),
           ``default_results`` (scratch budgets keep out of the committed results/)
plan       ``make_plan(budget) -> [Run]``, ``Run`` (kind ``train``/``point``/``study``),
           ``STAGES``, ``run_id(run)``
cost       ``COST``, ``estimate_seconds(run)``, ``describe(plan)`` (what ``plan`` prints),
           ``tally(plan, states)`` (the closing line of ``plan`` and ``status``)
records    ``budget_dir``, ``record_path``, ``lr_search_path``, ``run_dir``,
           ``read_json_or_none``, ``status(run)`` (``FINAL``: states not run again),
           ``failure_reason``, ``sweep_info``, ``write_outcome``,
           ``lr_winners``, ``winners``, ``assign_lrs``, ``copy_checkpoints``
search     ``run_study(run, out_dir)``: one Optuna study per (method, depth) (``points``,
           ``point_dir``, ``summary``; ``require`` imports Optuna or says how to install it)
execute    ``train_run`` (the one task), ``adaptation`` (a run's curve), ``executor``
           (LocalCluster, a scheduler address, or serial), ``prepare``, ``execute_all``,
           ``check_data`` (before any work), ``run_sweep``, ``failures`` (what ``run``
           prints and exits 1 on), ``commit_files`` (``run --commit``)
cells      ``grouped(results_dir, dataset) -> {budget: {(method, layers): cell}}``,
           ``cells(..., budget=)``, ``preferred`` (the budget a claim or figure reads),
           ``summarise``, ``curve`` and ``adaptation`` (adaptation curves); helpers
           ``percent``, ``budget_of``, ``ordered``, ``choose``, ``has_result``, ``setup``
verdicts   ``claims(cells) -> [Claim]``, ``adaptation_claim(curves)``, ``compare``,
           ``Difference`` (Welch interval, seeds needed), ``estimate``, ``combine``,
           ``difference``
render     ``render(results_dir)``: markdown tables per dataset and budget, paper beside
           ours, and verdicts (``ours_text``, ``paper_text``, ``budget_label``,
           ``fill_command``, ``fill_text``)
repro      ``update(paper_repro.md, README.md, results_dir, write=)``: the generated rows and
           blocks (``write=False``: what ``repro --check`` compares)
           (``rewrite_rows``, ``rewrite_block``, ``run_command``)
cli        ``main(argv)``, ``build_parser()``
"""
