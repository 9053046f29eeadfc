"""theory.paper: the paper's CNN tables, from plan to markdown.

Everything about Tables 1 and 2 of the paper lives here: its numbers, the sweep that
reproduces them (plan, budgets, execution on Dask), the reading of records into table cells
(one function for the figures, the README block and ``paper_repro.md``), the ordering verdicts
and the markdown. Imports run one way: ``theory.engine`` -> ``theory.paper`` ->
``theory.figures``. Command line: ``python -m theory.paper {plan,run,status,summary,repro,ship}``.

Modules
-------
vocabulary the names every module shares: methods and labels, tables, datasets, cells
numbers    the paper's 39 numbers (``TABLE1``, ``TABLE2``, ``table1``, ``table2``)
budgets    ``BUDGETS``, the one table of presets, and ``search_spec`` (grid or study)
plan       ``make_plan(budget) -> [Run]``: the runs a budget expands to
cost       ``estimate_seconds(run)``, ``describe(plan)``: what ``plan`` prints
records    where records live, each run's ``status``, the searches' winners (``assign_lrs``)
schema     the schemas of records, searches and the checkpoint index, checked where read
search     ``run_study(run, out_dir)``: one Optuna study per (method, depth)
execute    ``run_sweep``: the plan on Dask or serially, one task (``train_run``) per run
connect    ``probe(address)``: a ``--scheduler`` checked to answer as Dask, within 10 s
cells      ``grouped(results_dir, dataset)``: records read into table cells, per budget
verdicts   ``claims(cells)``: the ordering claims with Welch intervals
alpha      ``sweep(results_dir)``, ``claim``: the alpha sweep on CNNs (claim C15)
protocols  ``compare(results_dir)``: each claim under the authors' protocol and ours
render     ``render(results_dir)``: markdown tables and verdicts per dataset and budget
rows       ``CellRow``, ``ClaimRow``, ``FigureRow`` and ``rewrite_rows``: rows put in place by id
repro      ``update(paper_repro.md, README.md, results_dir)``: the generated rows and blocks
ship       ``ship(results_dir, budget)``: a budget's checkpoints over the shipped, if they validate
           higher on the same episodes
cli        ``main(argv)``: ``python -m theory.paper``
"""
