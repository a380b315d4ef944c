"""Demo stage: the scikit-learn integration on the digits data, with images per step.

``autolog()`` records a grid search over an SVC without a line of logging code: the search is
one run (params, scores, the model as skops), each candidate a child run tagged ``parent_run``.
A second run logs a few misclassified digits as images and the decision scores as histograms.
"""

from __future__ import annotations

from rich.console import Console

from loopml.demo._tracking import load_digits_split

__all__ = ["INTEGRATIONS_PROJECT", "autolog_digits"]

INTEGRATIONS_PROJECT = "digits-autolog"


def autolog_digits(console: Console) -> str:
    """Grid-search an SVC under sklearn autolog and log its mistakes as media; returns its run id."""
    import numpy as np
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    import loopml
    from loopml.integrations import sklearn as loopml_sklearn

    console.print("3. integrations: a grid search recorded by sklearn autolog, mistakes as images")
    try:  # a rerun of the demo reuses the search an earlier one recorded
        done = loopml.runs(INTEGRATIONS_PROJECT, where="tags.estimator_class = 'GridSearchCV'")
    except (loopml.NotFoundError, loopml.QueryError):
        done = None
    if done is not None and not done.empty:
        console.print(
            f"   reusing the grid search of a previous demo (run {str(done['id'].iloc[0])[:8]})"
        )
        return str(done["id"].iloc[0])
    x_train, x_val, y_train, y_val = load_digits_split()
    loopml_sklearn.autolog(project=INTEGRATIONS_PROJECT, validation_data=(x_val, y_val))
    try:
        search = GridSearchCV(SVC(), {"C": [0.5, 5.0], "gamma": ["scale", 0.01]}, cv=3)
        search.fit(x_train, y_train)
    finally:
        loopml_sklearn.autolog(disable=True)
    frame = loopml.runs(INTEGRATIONS_PROJECT, where="tags.estimator_class = 'GridSearchCV'")
    parent = str(frame["id"].iloc[0])
    pred = search.predict(x_val)
    wrong = np.flatnonzero(pred != y_val)[:8]
    scores = search.decision_function(x_val)
    with loopml.init(
        project=INTEGRATIONS_PROJECT, name="svc-mistakes", tags={"parent_run": parent}
    ) as run:
        for i in wrong:
            image = (x_val[i].reshape(8, 8) * 255).astype(np.uint8)
            caption = f"true {y_val[i]}, predicted {pred[i]}"
            run.log(
                {
                    "mistakes": loopml.Image(image, caption=caption),
                    "scores": loopml.Histogram(scores[i]),
                }
            )
    best = ", ".join(f"{k}={v}" for k, v in search.best_params_.items())
    console.print(
        f"   best {best} with cv accuracy {search.best_score_:.3f}; "
        f"{len(search.cv_results_['params'])} child runs; {len(wrong)} mistakes logged as images"
    )
    return parent
