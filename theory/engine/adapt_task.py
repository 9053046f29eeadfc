"""Apply a meta-trained checkpoint to a user's own task: adapt on a few examples, classify.

``support/<class>/<images>`` gives the task's classes (sorted folder names = labels 0..N-1, N
must equal the checkpoint's ``ways``); ``query/<images>`` are the files to classify. The model
takes ``steps`` inner steps (the run's inner loop: MAML/FO-MAML adapt every base param, ANIL the
head, through the meta-optimizer if any) on the support images, then predicts each query image.

Batch norm uses the statistics of the batch it is given, as in MAML's own evaluation, so the
query images are normalised together: a prediction can depend on the other query images.
"""

import os

import numpy as np

from theory import _io
from theory.engine import cnn, data, maml
from theory.engine import train as training


def adapt_folders(checkpoint_path, support, query, *, steps=None, metaopt=None):
    """Adapt the checkpoint to ``support`` and predict the class of every image in ``query``.

    Returns ``{"kind": "engine-adapt", "checkpoint", "classes", "steps", "metaopt",
    "metaopt_options", "predictions": [{"file", "class", "label", "probabilities"}, ...]}`` in
    query file order. The meta-optimizer is rebuilt with the options stored in the checkpoint.
    """
    config, meta_params, opt_obj, ckpt = training.restore(checkpoint_path)
    meta_params, opt_obj, config = training.override(meta_params, opt_obj, config, metaopt,
                                                     steps)
    in_shape = tuple(ckpt["extra"]["in_shape"])
    sup = data.load_image_folder(support, in_shape)
    if not sup.class_names:
        raise ValueError(f"support folder {support} holds no class sub-folders; expected "
                         f"{support}/<class>/<images>, one sub-folder per class")
    if len(sup.class_names) != config["ways"]:
        raise ValueError(f"support folder {support} has {len(sup.class_names)} class "
                         f"sub-folders; the checkpoint is a {config['ways']}-way model "
                         f"(valid: exactly {config['ways']})")
    qry = data.load_image_folder(query, in_shape)
    if qry.class_names:
        raise ValueError(f"query folder {query} holds sub-folders {list(qry.class_names)}; "
                         f"expected the images directly in {query}")
    logits = predict(meta_params, config, opt_obj, sup.images, sup.labels, qry.images)
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
            "predictions": predictions}


def score(result, answers_path):
    """Fraction of ``result``'s predictions (from ``adapt_folders``) that match the classes in
    an ``episode``'s ``answers.json`` (query files matched by name; every file must be there)."""
    answers = _io.read_json(answers_path).get("answers")
    if not isinstance(answers, dict):
        raise ValueError(f"{answers_path} has no 'answers' mapping; expected the answers.json "
                         "written by `python -m theory.engine episode`")
    names = [os.path.basename(item["file"]) for item in result["predictions"]]
    if missing := [n for n in names if n not in answers]:
        raise ValueError(f"query files {missing[:3]} are not in {answers_path} "
                         f"({len(missing)} of {len(names)} missing)")
    hits = [answers[n] == item["class"] for n, item in zip(names, result["predictions"],
                                                           strict=True)]
    return float(np.mean(hits))


def predict(meta_params, config, metaopt, x_s, y_s, x_q):
    """Logits ``(n_q, ways)`` of ``x_q (n_q, C, H, W)`` after adapting on ``(x_s, y_s)``."""
    params = meta_params["model"]
    keys = [k for k in params if maml.is_head_key(k)] if config["algo"] == "anil" else None
    adapted = maml.adapt(params, x_s[None], np.asarray(y_s)[None], alpha=config["inner_lr"],
                         steps=config["steps"], first_order=True, adapt_keys=keys,
                         metaopt=metaopt, phi=meta_params["metaopt"])
    return np.asarray(cnn.apply(adapted, x_q[None]))[0]
