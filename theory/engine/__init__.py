"""A numpy CNN engine with ``autograd`` as its differentiation core.

MAML, FO-MAML, ANIL, LinNet heads and meta-optimizers on few-shot image benchmarks. Models are
pure functions of ``(params, x)``; params are flat dicts ``"layer/name" -> ndarray``; a meta-batch
of T tasks is one array ``x (T, n, C, H, W)`` and every param may carry a leading task axis.

Primitives (:mod:`.primitives`, registered with ``autograd.extend``, second-order correct)
----------------------------------------------------------------------------------------
im2col(a, blocks, stride) / col2im(...)  3x3 patches ``(T,C,n,H,W) <-> (T,C*9,n*Ho*Wo)``,
                                  mutually adjoint; pixels in C order, or in block order with
                                  ``blocks``; stride 2 by parity phases (:mod:`.strided`)
conv3x3(a, w, blocks, stride)     convolution as im2col + GEMM, a few images at a time (shared or
                                  per-task w); at stride 1 its input adjoint is a conv with the
                                  rotated weight; at stride 2 with a C-order output, four
                                  taps read the input's phases in place (split form); the
                                  GEMMs and their chunking are :mod:`.gemm`
phase_blocks(a) / phase_unblocks  an input's parity phases in block order, zero-filled (one
                                  node of the graph for every use of the phases), and adjoint
relu(x), masked(g, mask)          ``max(x, 0)`` and its VJP ``g * [x > 0]`` (in :mod:`.batchnorm`)

Batch norm (:mod:`.batchnorm`, re-exported by :mod:`.primitives`)
-----------------------------------------------------------------
center(z), sqmean(zc)             per-task batch-norm mean removal and variance
scale_rows(x, s), rowdot(x, y)    one factor per row, and its adjoint reduction
affine_rows(x, s, b), rowsum(x)   ``x * s + b`` per row (batch norm's affine map), row sums
batch_norm(z, gamma, beta, eps, relu)  batch norm (and the ReLU) as one node, without max-pool;
moments(z), blend_rows(...)       its statistics and its input gradient ``x * a + y * b + c``

Pooling (:mod:`.pooling`)
-------------------------
maxpool2(x, blocks), unpool2, pool_gather  2x2 max-pool and its adjoint pair given the argmax mask
pool_mask(x, blocks)              one-hot argmax masks of the 2x2 windows (first maximum wins)

Model (:mod:`.cnn`)
-------------------
init(rng, *, layers, hidden, ways, in_shape, linnet, linnet_width, dtype) -> params
apply(params, x) -> logits (T, n, ways); features(params, x); head(params, feats)
collapse(params)                  LinNet layers multiplied into the head: same outputs
count(params), architecture(params), pooled_sizes(H, W, layers)
is_head_key(key), is_transform_key(key)  ANIL's head keys; T-Nets' ``.../T`` keys

Algorithms (:mod:`.maml`, :mod:`.chunks`, :mod:`.optim`)
--------------------------------------------------------
adapt(params, x_s, y_s, *, alpha, steps, first_order, adapt_keys, metaopt, phi, units)
meta_loss(meta_params, batch, *, alpha, steps, algo, metaopt) -> (loss, aux)
meta_grad(meta_params, batch, **kw) -> (loss, grads, aux)   meta_loss and its gradient
chunks.meta_grad(..., chunk=None, workers=None)   the same in task chunks (None: automatic, the
                                  graphs of chunks in flight under chunks.CHUNK_BUDGET_BYTES) on
                                  ``workers`` processes (None: every core, :mod:`.parallel`)
adapted_logits(params, x_s, y_s, x_q, *, alpha, steps, algo, ...) -> query logits after adapt
adapt_keys(params, algo)          keys the inner loop adapts (ANIL: the head, cnn.is_head_key)
evaluate_batch(...); cross_entropy; accuracy; ALGOS
optim.adam(step_size) -> (init, update, get_params), jax-style, never mutating
optim.schedule(name, step_size, total) -> step_size(i): constant or cosine

Meta-optimizers (:mod:`.metaopt`)
---------------------------------
get(name, **options)              none, metasgd, mc, tnet, kfo, kfo-mlp (see its docstring)
count_parameters(meta_params)     {"meta": ..., "deployed": ...}
extra_model_params(opt, rng, params, keys)  T-Nets' forward-pass T (empty for the others)

Data (:mod:`.data`)
-------------------
load(name, path, *, split, seed, split_by)  synthetic, omniglot, cifarfs, mini-imagenet
                                  (split_by="alphabet": whole Omniglot alphabets held out)
sample_tasks(dataset, rng, *, tasks, ways, shots, query); mean_ci95(accs); load_image_folder

Runs (:mod:`.config`, :mod:`.train`, :mod:`.evaluate`, :mod:`.stopping`, :mod:`.checkpoint`,
:mod:`.schema`, :mod:`.footprint`, :mod:`.adapt_task`, :mod:`.provenance`)
-----------------------------------------------------------------------------------------
config.FIELDS                     the run config: name, kind, default, bound, help of each key
config.make_config(**overrides) -> checked config (also train.make_config); config.DEFAULTS
config.from_saved(saved), check_resume, check_data, check_ways   stored configs, resuming
config.make_metaopt, init_meta_params, seeds, episode_rng, load_splits   what a config builds
train.train(config, *, out_dir, resume, progress, callback) -> result dict (results.json)
train.DivergedError (a NaN meta-loss); train.CHECKPOINT, train.RESULTS (file names in out_dir)
evaluate.evaluate(meta_params, dataset, rng, *, config, episodes=600) -> accuracy +- 95% CI
evaluate.mean_accuracy(...)       the same without the argument checks (``train``'s)
evaluate.adaptation_curve(..., steps=range(11)) -> accuracy +- 95% CI after each k inner steps
stopping                          why a run stops (plateau, cap, NaN) and best.npz
checkpoint.save / checkpoint.load  atomic ``.npz`` checkpoints with the architecture
checkpoint.restore(path), checkpoint.override(...)   a checkpoint for ``eval`` and ``adapt``
schema.CHECKPOINT_META, RUN_RECORD, ANSWERS ...   the schemas of the files read back
footprint.meta_step_bytes(config, in_shape)   a meta-step's memory, checked before training
footprint.meta_step_seconds, episode_seconds, train_seconds   least time, --max-seconds
provenance.source_commit(), provenance.machine()   where a run record comes from
adapt_task.adapt_folders(checkpoint, support, query, *, steps, metaopt) -> dict: classes,
                                  predictions (file, class, probabilities), notes
adapt_task.read_answers(path), score(result, path)   answers as {file: class} or answers.json
bench.run(args)                    timed meta-steps (``benchmarks/engine_speed.py``)
timing.rounds, paired_ratio, traced_peak   how the benchmarks time: paired rounds, memory
heap.keep_freed_memory()           malloc keeps freed blocks for reuse (processes that train)

The paper-table sweep built on these runs is ``theory.paper`` (the engine imports nothing
above it).

Command line: ``python -m theory.engine {train,eval,adapt,bench,episode} --help``.
"""
