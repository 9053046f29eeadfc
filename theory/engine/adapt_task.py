"""Apply a meta-trained checkpoint to a user's own task: adapt on a few examples, classify.

``support/<class>/<images>`` gives the task's classes (sorted folder names = labels 0..n-1);
``query/<images>`` are the files to classify. The model takes ``steps`` inner steps (the run's
inner loop: MAML/FO-MAML adapt every base param, ANIL the head, through the meta-optimizer if
any) on the support images, then predicts each query image.

A task may have fewer classes than the checkpoint's ``ways`` (at least 2): a MAML head's output
units have no fixed meaning (meta-training relabels the classes of every task at random), so
class ``k`` uses output unit ``k`` and the units beyond ``n`` are left out of the softmax, in
the inner loop and in the predictions; the result says so in ``notes``. More classes than the
head has units is an error (no unit is left for them). Support folders of unequal sizes, or a
shot count unlike the checkpoint's, still give a valid adaptation (the inner loss averages
over all support images) that differs from the one meta-training prepared for: ``notes``
says so.

Batch norm uses the statistics of the batch it is given, as in MAML's own evaluation, so the
query images are normalised together: a prediction can depend on the other query images.
"""

import os

import numpy as np

from theory import _io, _limits, _schema
from theory.engine import checkpoint, data, footprint, maml, parallel, schema
from theory.engine import config as run_config
from theory.engine.data import images

__all__ = ["adapt_folders", "check_support", "read_answers", "score", "predict"]


def adapt_folders(checkpoint_path, support, query, *, steps=None, metaopt=None,
                  max_seconds=None):
    """Adapt the checkpoint to ``support`` and predict the class of every image in ``query``.

    Returns a dict, ``{"kind": "engine-adapt", "checkpoint", "classes", "steps", "metaopt",
    "metaopt_options", "notes", "predictions": [{"file", "class", "label", "probabilities"},
    ...]}`` in query file order; ``notes`` lists how the task differs from the checkpoint's
    (fewer classes, unequal or other shot counts), empty if it does not. The meta-optimizer is
    rebuilt with the options stored in the checkpoint. Before an image is decoded, the
    adaptation's memory is checked against the machine's (``footprint.episode_bytes``) and,
    given ``max_seconds``, its time (``footprint.episode_seconds``): ``ValueError`` beyond.
    """
    config, meta_params, opt_obj, ckpt = checkpoint.restore(checkpoint_path)
    meta_params, opt_obj, config = checkpoint.override(meta_params, opt_obj, config, metaopt,
                                                       steps)
    in_shape = tuple(ckpt["extra"]["in_shape"])
    _check_work(config, in_shape, support, query, max_seconds)
    sup = data.load_image_folder(support, in_shape)
    notes = check_support(sup, support, config)
    qry = data.load_image_folder(query, in_shape)
    if qry.class_names:
        raise ValueError(f"query folder {query} holds sub-folders {list(qry.class_names)}; "
                         f"expected the images directly in {query}")
    n = len(sup.class_names)
    logits = predict(meta_params, config, opt_obj, sup.images, sup.labels, qry.images,
                     units=n)
    z = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    predictions = []
    for file, p in zip(qry.files, probs, strict=True):
        label = int(np.argmax(p))
        predictions.append({"file": file, "class": sup.class_names[label], "label": label,
                            "probabilities": {c: float(q) for c, q in
                                              zip(sup.class_names, p, strict=True)}})
    return {"kind": "engine-adapt", "checkpoint": str(checkpoint_path),
            "classes": list(sup.class_names), "steps": config["steps"],
            "metaopt": config["metaopt"], "metaopt_options": config["metaopt_options"],
            "notes": notes, "predictions": predictions}


def _check_work(config, in_shape, support, query, max_seconds):
    """Refuse an adaptation to the images of ``support`` and ``query`` beyond the memory
    limit or ``max_seconds``, counting the files, not decoding them."""
    n_s, n_q = (len(images.image_folder_files(folder)[1]) for folder in (support, query))
    what = (f"adapt of {n_s} support and {n_q} query images with --steps {config['steps']} "
            f"({footprint.describe(config, footprint.MODEL_KEYS)})")
    _limits.check_memory(footprint.episode_bytes(config, in_shape, tasks=1, n_s=n_s, n_q=n_q),
                         what)
    if max_seconds is not None:
        footprint.check_seconds(footprint.episode_seconds(
            config, in_shape, episodes=1, n_s=n_s, n_q=n_q, steps=config["steps"],
            cores=parallel.default_workers()), max_seconds, what)


def check_support(sup, support, config):
    """Notes on how support set ``sup`` (an ``ImageFolder``) differs from the checkpoint's
    tasks; ``ValueError`` where no valid adaptation exists (no classes, one, too many)."""
    ways, n = config["ways"], len(sup.class_names)
    if n == 0:
        raise ValueError(f"support folder {support} holds no class sub-folders; expected "
                         f"{support}/<class>/<images>, one sub-folder per class")
    if n < 2:
        raise ValueError(f"support folder {support} has 1 class sub-folder "
                         f"({sup.class_names[0]}); a task needs 2 to {ways} classes")
    if n > ways:
        raise ValueError(f"support folder {support} has {n} class sub-folders, but the "
                         f"checkpoint is a {ways}-way model with {ways} output units (valid: "
                         f"2..{ways} classes); use a checkpoint trained with --ways {n} or "
                         f"more, or split the task into groups of at most {ways} classes")
    notes = []
    if n < ways:
        notes.append(f"{n} classes on a {ways}-way model: output units 0..{n - 1} are used, "
                     f"the other {ways - n} are left out")
    shots = np.bincount(sup.labels, minlength=n)
    by_class = ", ".join(f"{c}: {k}" for c, k in zip(sup.class_names, shots, strict=True))
    if shots.min() != shots.max():
        notes.append(f"support classes have unequal numbers of images ({by_class}); the "
                     "checkpoint was meta-trained on balanced tasks")
    elif shots[0] != config["shots"]:
        notes.append(f"{shots[0]} support images per class; the checkpoint was meta-trained "
                     f"with {config['shots']}-shot tasks")
    return notes


def read_answers(path):
    """The ``{query file name: class}`` mapping of an answers file.

    The file is either an ``episode``'s ``answers.json`` (the mapping under ``"answers"``,
    ``schema.ANSWERS``) or the mapping itself (``schema.ANSWER_MAP``), a JSON object of query
    file names to class folder names.
    """
    doc = _io.read_json(path, dict, what="answers file")
    wrapped = isinstance(doc.get("answers"), dict)
    _schema.check(doc, schema.ANSWERS if wrapped else schema.ANSWER_MAP, f"answers file {path}")
    answers = doc["answers"] if wrapped else doc
    if not answers:
        raise ValueError(f"answers file {path} maps no query file to a class; expected a "
                         "JSON object {file: class} or the answers.json written by `python "
                         "-m theory.engine episode`")
    return answers


def score(result, answers_path):
    """Fraction of ``result``'s predictions (from ``adapt_folders``) that match the classes in
    an ``episode``'s ``answers.json`` (query files matched by name; every file must be there)."""
    answers = read_answers(answers_path)
    names = [os.path.basename(item["file"]) for item in result["predictions"]]
    if missing := [n for n in names if n not in answers]:
        raise ValueError(f"query files {missing[:3]} are not in answers file {answers_path} "
                         f"({len(missing)} of {len(names)} missing)")
    hits = [answers[n] == item["class"] for n, item in zip(names, result["predictions"],
                                                           strict=True)]
    return float(np.mean(hits))


def predict(meta_params, config, metaopt, x_s, y_s, x_q, units=None):
    """Logits ``(n_q, units)`` of ``x_q (n_q, C, H, W)`` after adapting on ``(x_s, y_s)``.

    ``units`` (default: ``ways``) keeps the head's first output units, in the inner loop's
    softmax and in the returned logits.
    """
    units = config["ways"] if units is None else units
    logits = maml.adapted_logits(meta_params["model"], x_s[None], np.asarray(y_s)[None],
                                 x_q[None], alpha=config["inner_lr"], steps=config["steps"],
                                 algo=config["algo"], metaopt=metaopt,
                                 phi=meta_params["metaopt"], first_order=True,
                                 units=None if units == config["ways"] else units,
                                 arch=run_config.arch(config))
    return np.asarray(logits)[0][:, :units]
