"""nb.utils.timeseries_dataset_from_array: the examples of Keras 3's documentation."""
import numpy as np
import pytest

import nbnet as nb


def test_keras_doc_example_strided_sampled_windows():
    """Indices 0..98, sequence_length 10, sampling_rate 2, sequence_stride 3: windows
    [0 2 .. 18], [3 5 .. 21], [6 .. 24], ..., the last [78 80 .. 96] (Keras' docs)."""
    ds = nb.utils.timeseries_dataset_from_array(np.arange(99), None, sequence_length=10,
                                                sampling_rate=2, sequence_stride=3,
                                                batch_size=8)
    x = np.concatenate([ds[i] for i in range(len(ds))])
    np.testing.assert_array_equal(x[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(x[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(x[2], np.arange(6, 26, 2))
    np.testing.assert_array_equal(x[-1], np.arange(78, 98, 2))
    assert len(x) == 27


def test_keras_doc_example_targets_offset():
    data = np.arange(100)
    ds = nb.utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10)
    inputs, targets = ds[0]
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert targets[0] == data[10]
    assert len(inputs) == 81 and targets[-1] == 90   # windows while targets last


def test_start_end_index_shuffle_and_errors():
    data = np.arange(50)[:, None] * 1.0
    ds = nb.utils.timeseries_dataset_from_array(data, np.arange(50), 5, start_index=10,
                                                end_index=30, batch_size=None)
    x, y = ds[0]
    np.testing.assert_array_equal(x[0, :, 0], np.arange(10, 15))
    np.testing.assert_array_equal(x[-1, :, 0], np.arange(25, 30))
    np.testing.assert_array_equal(y, np.arange(10, 26))
    sh = nb.utils.timeseries_dataset_from_array(data, np.arange(50), 5, shuffle=True, seed=1,
                                                batch_size=None)[0]
    assert sorted(sh[1].tolist()) == list(range(46)) and sh[1].tolist() != list(range(46))
    np.testing.assert_array_equal(sh[0][:, 0, 0], sh[1])
    with pytest.raises(ValueError, match="sequence_length"):
        nb.utils.timeseries_dataset_from_array(data, None, 0)
    with pytest.raises(ValueError, match="no window"):
        nb.utils.timeseries_dataset_from_array(data, None, 60)
