"""Issue 14 metrics: confusion counts, Precision, Recall, AUC, F1 / FBeta, RMSE, R2, MAPE,
MeanIoU and the cross-entropy metrics: hand-computed values, accumulation over batches,
sample weights, reset_state, get / serialize, and (optional) Keras 3 on the same arrays."""
import json
import os

import numpy as np
import pytest

import nbnet as nb
from nbnet import metrics

Y = np.array([0, 1, 1, 0, 1, 0, 1, 1], dtype=float)
P = np.array([0.1, 0.8, 0.4, 0.6, 0.9, 0.3, 0.55, 0.2])
W = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 0.0])


def test_confusion_counts_by_hand():
    # at 0.5: predicted positive 1, 3, 4, 6 -> tp {1, 4, 6}, fp {3}, fn {2, 7}, tn {0, 5}
    for cls, value, weighted in ((metrics.TruePositives, 3, 4.0), (metrics.FalsePositives, 1, 1.0),
                                 (metrics.FalseNegatives, 2, 0.5), (metrics.TrueNegatives, 2, 4.0)):
        m = cls()
        m.update_state(Y, P)
        assert m.result() == value and isinstance(m.result(), np.floating)
        m.reset_state()
        m.update_state(Y, P, sample_weight=W)
        assert m.result() == weighted
    tp = metrics.TruePositives(thresholds=[0.0, 0.5, 0.85])
    tp.update_state(Y, P)
    np.testing.assert_array_equal(tp.result(), [5, 3, 1])


def test_precision_recall_by_hand():
    p, r = metrics.Precision(), metrics.Recall()
    for m in (p, r):
        m.update_state(Y, P)
    assert p.result() == pytest.approx(3 / 4) and r.result() == pytest.approx(3 / 5)
    p = metrics.Precision(thresholds=[0.35, 0.7])
    p.update_state(Y, P, sample_weight=W)
    np.testing.assert_allclose(p.result(), [(2 + 0.5 + 1 + 1) / (2 + 0.5 + 1 + 1 + 1), 3 / 3])
    # top_k: only each row's best class can be positive; class_id: one column
    yt = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    yp = np.array([[0.2, 0.7, 0.6], [0.3, 0.5, 0.1], [0.1, 0.2, 0.9]])
    top = metrics.Precision(top_k=1)
    top.update_state(yt, yp)
    assert top.result() == pytest.approx(2 / 3)
    col = metrics.Recall(class_id=2)
    col.update_state(yt, yp)
    assert col.result() == pytest.approx(1.0)
    empty = metrics.Precision()
    empty.update_state([0, 0], [0.1, 0.2])
    assert empty.result() == 0.0   # divide_no_nan


def _roc_auc_exact(y, p):
    pos, neg = p[y == 1], p[y == 0]
    return np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))


def test_auc_prgain_by_hand():
    # Flach & Kull's precision / recall gain, g = 1 - (pos / neg) * (fp or fn) / tp.
    # labels 1 1 0 1 0, scores .9 .7 .6 .4 .2: pos 3, neg 2. Thresholds -eps, 0.5, 1+eps:
    # tp, fp, fn = 3, 2, 0 -> (recall gain, precision gain) = (1, 0); 2, 1, 1 -> (.25, .25);
    # tp 0 -> (0, 1). Riemann sums over recall gain, heights: mean / min / max of the pair.
    y, p = [1, 1, 0, 1, 0], [0.9, 0.7, 0.6, 0.4, 0.2]
    for method, area in (("interpolation", 0.75 * 0.125 + 0.25 * 0.625),
                         ("minoring", 0.25 * 0.25), ("majoring", 0.75 * 0.25 + 0.25 * 1.0)):
        m = metrics.AUC(curve="PRGAIN", thresholds=[0.5], summation_method=method)
        m.update_state(y, p)
        assert float(m.result()) == pytest.approx(area, abs=1e-12), method


def test_auc_roc_and_pr(rng):
    y = rng.integers(0, 2, 400).astype(float)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 400), 0, 1)
    m = metrics.AUC(num_thresholds=2000)
    m.update_state(y, p)
    assert m.result() == pytest.approx(_roc_auc_exact(y, p), abs=2e-3)
    # 3 thresholds (-eps, 0.5, 1+eps) by hand: one step of the ROC curve
    m3 = metrics.AUC(num_thresholds=3)
    m3.update_state(Y, P)
    tpr, fpr = 3 / 5, 1 / 3
    assert m3.result() == pytest.approx((1 - fpr) * (1 + tpr) / 2 + fpr * tpr / 2)
    pr = metrics.AUC(curve="PR", summation_method="majoring", num_thresholds=3)
    pr.update_state(Y, P)
    # points (recall, precision): (1, 5/8), (3/5, 3/4), (0, 0)
    assert pr.result() == pytest.approx((1 - 0.6) * 0.75 + 0.6 * 0.75)
    perfect = metrics.AUC(curve="PR")
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.result() == pytest.approx(1.0, abs=1e-6)
    multi = metrics.AUC(multi_label=True, num_thresholds=50)
    yy, pp = np.stack([y, 1 - y], 1), np.stack([p, 1 - p], 1)
    multi.update_state(yy, pp)
    one = metrics.AUC(num_thresholds=50)
    one.update_state(y, p)
    assert multi.result() == pytest.approx(one.result(), rel=1e-2)
    logits = metrics.AUC(from_logits=True)
    logits.update_state(Y, np.log(P / (1 - P)))
    plain = metrics.AUC()
    plain.update_state(Y, P)
    assert logits.result() == pytest.approx(plain.result(), rel=1e-9)


def test_fbeta_and_f1_by_hand():
    yt = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    yp = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    f1 = metrics.F1Score()
    f1.update_state(yt, yp)
    # argmax predictions: class 0 tp 1 fp 1 -> P 1/2, R 1; class 1 tp 1 fn 1; class 2 perfect
    expected = np.array([2 * 0.5 * 1 / 1.5, 2 * 1 * 0.5 / 1.5, 1.0])
    np.testing.assert_allclose(f1.result(), expected, rtol=1e-6)
    macro = metrics.F1Score(average="macro")
    macro.update_state(yt, yp)
    assert macro.result() == pytest.approx(expected.mean(), rel=1e-6)
    weighted = metrics.F1Score(average="weighted")
    weighted.update_state(yt, yp)
    assert weighted.result() == pytest.approx(np.dot(expected, [1, 2, 1]) / 4, rel=1e-6)
    micro = metrics.FBetaScore(average="micro", beta=2.0, threshold=0.5)
    micro.update_state(yt, yp)
    tp, fp, fn = 3, 1, 1   # 0.8, 0.6 (wrong), 0.7, 0.7 above 0.5
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    assert micro.result() == pytest.approx(5 * prec * rec / (4 * prec + rec), rel=1e-6)
    with pytest.raises(ValueError, match="beta"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")


def test_rmse_r2_mape_by_hand(rng):
    t, p = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(t, p)
    assert rmse.result() == pytest.approx(np.sqrt(np.mean((t - p) ** 2)), rel=1e-12)
    w = rng.uniform(0.5, 2, 10)
    rmse.reset_state()
    rmse.update_state(t, p, sample_weight=w)
    assert rmse.result() == pytest.approx(np.sqrt(np.sum(w * np.mean((t - p) ** 2, 1)) / w.sum()))
    r2 = metrics.R2Score(class_aggregation=None)
    r2.update_state(t, p)
    ss_tot = ((t - t.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(r2.result(), 1 - ((t - p) ** 2).sum(0) / ss_tot, rtol=1e-10)
    adj = metrics.R2Score(num_regressors=3)
    adj.update_state(t, p)
    raw = np.mean(1 - ((t - p) ** 2).sum(0) / ss_tot)
    n = 20  # Keras counts every value
    assert adj.result() == pytest.approx(1 - (1 - raw) * (n - 1) / (n - 3 - 1), rel=1e-10)
    var = metrics.R2Score(class_aggregation="variance_weighted_average")
    var.update_state(t, p)
    assert var.result() == pytest.approx(np.sum(ss_tot * (1 - ((t - p) ** 2).sum(0) / ss_tot))
                                         / ss_tot.sum(), rel=1e-10)
    mape = metrics.get("mape")
    mape.update_state([[2.0, 4.0], [1.0, 1.0]], [[1.0, 5.0], [1.5, 1.0]])
    assert mape.name == "mape" and mape.result() == pytest.approx((37.5 + 25.0) / 2)


def test_mean_iou_by_hand():
    m = metrics.MeanIoU(num_classes=3)
    m.update_state([0, 0, 1, 1, 2], [0, 1, 1, 1, 0])
    # class 0: tp 1, fp 1, fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2: tp 0 -> 0
    assert m.result() == pytest.approx((1 / 3 + 2 / 3 + 0) / 3, rel=1e-6)
    ign = metrics.MeanIoU(num_classes=3, ignore_class=2)
    ign.update_state([0, 0, 1, 1, 2], [0, 1, 1, 1, 0])
    assert ign.result() == pytest.approx((1 / 2 + 2 / 3) / 2, rel=1e-6)
    dense = metrics.MeanIoU(num_classes=3, sparse_y_pred=False)
    dense.update_state([0, 0, 1, 1, 2], np.eye(3)[[0, 1, 1, 1, 0]] * 0.9)
    assert dense.result() == m.result()
    with pytest.raises(ValueError, match="num_classes"):
        metrics.MeanIoU(num_classes=0)


def test_crossentropy_metrics_by_hand():
    y = np.array([[0, 1, 0], [0, 0, 1]], dtype=float)
    p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    cce = metrics.CategoricalCrossentropy()
    cce.update_state(y, p)
    assert cce.result() == pytest.approx(-(np.log(0.95) + np.log(0.1)) / 2, rel=1e-6)
    scce = metrics.get("sparse_categorical_crossentropy")
    scce.update_state([1, 2], p)
    assert scce.result() == pytest.approx(cce.result(), rel=1e-12)
    bce = metrics.BinaryCrossentropy(from_logits=True)
    bce.update_state([[1.0], [0.0]], [[2.0], [-1.0]])
    assert bce.result() == pytest.approx(np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))]))
    assert isinstance(metrics.get("binary_crossentropy"), metrics.BinaryCrossentropy)
    assert not isinstance(metrics.get("binary_crossentropy"), nb.losses.Loss)


def _batches(rng):
    y = rng.integers(0, 2, (30, 3)).astype(float)
    p = rng.uniform(size=(30, 3))
    w = rng.uniform(0.2, 2.0, 30)
    return y, p, w


FACTORIES = {
    "tp": lambda: metrics.TruePositives(thresholds=[0.3, 0.6]),
    "tn": metrics.TrueNegatives, "fp": metrics.FalsePositives, "fn": metrics.FalseNegatives,
    "precision": lambda: metrics.Precision(top_k=2), "recall": lambda: metrics.Recall(class_id=1),
    "auc": metrics.AUC, "auc_pr": lambda: metrics.AUC(curve="PR"),
    "auc_multi": lambda: metrics.AUC(multi_label=True, thresholds=[0.2, 0.5, 0.7]),
    "f1": metrics.F1Score, "fbeta": lambda: metrics.FBetaScore("weighted", 0.5, 0.4),
    "rmse": metrics.RootMeanSquaredError, "r2": metrics.R2Score,
    "mape": metrics.MeanAbsolutePercentageError, "bce": metrics.BinaryCrossentropy,
    "cce": metrics.CategoricalCrossentropy,
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_two_updates_equal_one_and_reset(rng, name):
    y, p, w = _batches(rng)
    if name == "mape":
        y = y + 1.0
    one, two = FACTORIES[name](), FACTORIES[name]()
    one.update_state(y, p, sample_weight=w)
    two.update_state(y[:11], p[:11], sample_weight=w[:11])
    two.update_state(y[11:], p[11:], sample_weight=w[11:])
    np.testing.assert_allclose(two.result(), one.result(), rtol=1e-12, atol=1e-12)
    unweighted = FACTORIES[name]()
    unweighted.update_state(y, p)
    ones = FACTORIES[name]()
    ones.update_state(y, p, sample_weight=np.ones(30))
    np.testing.assert_allclose(ones.result(), unweighted.result(), rtol=1e-12, atol=1e-12)
    # a weight of 2 on every sample doubles counts and leaves ratios (up to their eps)
    again = FACTORIES[name]()
    again.update_state(y, p, sample_weight=np.full(30, 2.0))
    scale = 2.0 if name in ("tp", "tn", "fp", "fn") else 1.0
    np.testing.assert_allclose(again.result(), scale * unweighted.result(), rtol=1e-6, atol=1e-12)  # eps terms
    one.reset_state()
    one.update_state(y[:5], p[:5])
    fresh = FACTORIES[name]()
    fresh.update_state(y[:5], p[:5])
    np.testing.assert_allclose(one.result(), fresh.result(), rtol=0, atol=0)
    spec = json.loads(json.dumps(metrics.serialize(one)))
    assert metrics.deserialize(spec).get_config() == one.get_config()


def test_registered_strings_and_compile():
    for s, cls in {"precision": metrics.Precision, "recall": metrics.Recall, "auc": metrics.AUC,
                   "true_positives": metrics.TruePositives, "f1_score": metrics.F1Score,
                   "fbeta_score": metrics.FBetaScore, "r2_score": metrics.R2Score,
                   "root_mean_squared_error": metrics.RootMeanSquaredError,
                   "mean_absolute_percentage_error": metrics.MeanAbsolutePercentageError,
                   "categorical_crossentropy": metrics.CategoricalCrossentropy}.items():
        m = metrics.get(s)
        assert type(m) is cls and m.name == s
    assert metrics.AUC().name == "auc" and metrics.MeanIoU(2).name == "mean_io_u"
    r = np.random.default_rng(0)
    x = r.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    nb.utils.set_random_seed(0)
    model = nb.Sequential([nb.Input(shape=(3,)), nb.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy",
                  metrics=["auc", "precision", metrics.Recall(name="rec"), "binary_crossentropy"])
    hist = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert {"auc", "precision", "rec", "binary_crossentropy"} <= set(hist.history)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    m = metrics.AUC()
    m.update_state(y, model.predict(x))
    assert logs["auc"] == pytest.approx(float(m.result()), rel=1e-6)
    assert logs["binary_crossentropy"] == pytest.approx(logs["loss"], rel=1e-5)


# ------------------------------------------------------------------ Keras 3 (optional)

def test_every_metric_matches_keras_at_float32(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    KM = keras.metrics
    y = rng.integers(0, 2, (40, 4)).astype(np.float32)
    p = rng.uniform(size=(40, 4)).astype(np.float32)
    w = rng.uniform(0.2, 2.0, 40).astype(np.float32)
    yc = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 40)]
    labels = rng.integers(0, 4, 40)
    reg_t = (rng.normal(size=(40, 3)) + 3).astype(np.float32)
    reg_p = (reg_t + rng.normal(size=(40, 3))).astype(np.float32)
    pairs = [
        (metrics.TruePositives(), KM.TruePositives(), y, p),
        (metrics.TrueNegatives(thresholds=[0.2, 0.7]), KM.TrueNegatives(thresholds=[0.2, 0.7]), y, p),
        (metrics.FalsePositives(), KM.FalsePositives(), y, p),
        (metrics.FalseNegatives(thresholds=[0.0, 0.5, 1.0]), KM.FalseNegatives(thresholds=[0.0, 0.5, 1.0]), y, p),
        (metrics.Precision(), KM.Precision(), y, p),
        (metrics.Precision(top_k=2), KM.Precision(top_k=2), y, p),
        (metrics.Recall(class_id=2, thresholds=[0.3, 0.6]), KM.Recall(class_id=2, thresholds=[0.3, 0.6]), y, p),
        (metrics.AUC(), KM.AUC(), y, p),
        (metrics.AUC(curve="PR"), KM.AUC(curve="PR"), y, p),
        (metrics.AUC(curve="PR", summation_method="minoring", num_thresholds=37),
         KM.AUC(curve="PR", summation_method="minoring", num_thresholds=37), y, p),
        (metrics.AUC(multi_label=True), KM.AUC(multi_label=True), y, p),
        (metrics.AUC(curve="PRGAIN"), KM.AUC(curve="PRGAIN"), y, p),
        (metrics.AUC(thresholds=[0.1, 0.45, 0.8]), KM.AUC(thresholds=[0.1, 0.45, 0.8]), y, p),
        (metrics.AUC(from_logits=True), KM.AUC(from_logits=True), y, 4 * p - 2),
        (metrics.F1Score(), KM.F1Score(), yc, p),
        (metrics.F1Score(average="macro", threshold=0.5), KM.F1Score(average="macro", threshold=0.5), y, p),
        (metrics.FBetaScore(average="weighted", beta=2.0), KM.FBetaScore(average="weighted", beta=2.0), yc, p),
        (metrics.FBetaScore(average="micro", beta=0.5, threshold=0.4),
         KM.FBetaScore(average="micro", beta=0.5, threshold=0.4), y, p),
        (metrics.RootMeanSquaredError(), KM.RootMeanSquaredError(), reg_t, reg_p),
        (metrics.R2Score(), KM.R2Score(), reg_t, reg_p),
        (metrics.R2Score(class_aggregation=None, num_regressors=2),
         KM.R2Score(class_aggregation=None, num_regressors=2), reg_t, reg_p),
        (metrics.MeanAbsolutePercentageError(), KM.MeanAbsolutePercentageError(), reg_t, reg_p),
        (metrics.MeanIoU(4), KM.MeanIoU(4), labels, np.argmax(p, 1)),
        (metrics.MeanIoU(4, sparse_y_pred=False), KM.MeanIoU(4, sparse_y_pred=False), labels, p),
        (metrics.BinaryCrossentropy(label_smoothing=0.1), KM.BinaryCrossentropy(label_smoothing=0.1), y, p),
        (metrics.BinaryCrossentropy(from_logits=True), KM.BinaryCrossentropy(from_logits=True), y, 4 * p - 2),
        (metrics.CategoricalCrossentropy(), KM.CategoricalCrossentropy(), yc, p),
        (metrics.SparseCategoricalCrossentropy(from_logits=True),
         KM.SparseCategoricalCrossentropy(from_logits=True), labels, 4 * p - 2),
    ]
    for ours, theirs, t, pred in pairs:
        weighted = not isinstance(ours, metrics.MeanIoU)  # Keras casts IoU weights to int
        for sw in ((None, w) if weighted else (None,)):
            ours.reset_state()
            theirs.reset_state()
            for lo, hi in ((0, 25), (25, 40)):
                s = None if sw is None else sw[lo:hi]
                ours.update_state(t[lo:hi], pred[lo:hi], sample_weight=s)
                theirs.update_state(t[lo:hi], pred[lo:hi], sample_weight=s)
            expected = np.asarray(theirs.result(), dtype=np.float64)
            # atol: Keras' float32 counts (fn = total - tp) round at 1e-7 of the total
            np.testing.assert_allclose(ours.result(), expected, rtol=1e-5,
                                       atol=1e-6 * max(1.0, np.abs(expected).max()) * 10,
                                       err_msg=f"{ours.name} weighted={sw is not None}")
