"""The CLI's default models and the choice of output layer and loss from the task."""
import click

import nbnet as nb

# The default CNN: 3x3 'valid' convolution, 2x2 pooling, twice. A side of n pixels
# leaves n - 2, then (n - 2) // 2, then that - 2, then // 2, which must stay >= 1:
# (n - 2) // 2 >= 4, so n >= 10.
CNN_MIN_IMAGE_SIZE = 10


def check_cnn_image_size(size):
    """--image-size for the default CNN: each side at least CNN_MIN_IMAGE_SIZE."""
    if min(size) < CNN_MIN_IMAGE_SIZE:
        raise click.BadParameter(
            f"{size[0]}x{size[1]} is too small for the default CNN (two 3x3 convolutions, "
            f"each followed by 2x2 pooling): each side must be at least {CNN_MIN_IMAGE_SIZE} "
            f"pixels; give a larger size or a --model spec", param_hint="--image-size")

def choose_loss(task, class_names, loss):
    """The loss name for the task; --loss must suit the task (checked before training).
    A class label column needs a loss whose declared target is "sparse" (or "binary"
    for two classes); a regression target a "regression" one (nbnet.losses)."""
    if loss is None:
        return "sparse_categorical_crossentropy" if task == "classification" else "mse"
    target = nb.losses.get(loss).target
    if task == "classification":
        if target not in ("sparse", "binary"):
            raise click.BadParameter(f"{loss!r} does not suit a classification target; use "
                                     f"sparse_categorical_crossentropy (or binary_crossentropy "
                                     f"for two classes)", param_hint="--loss")
        if target == "binary" and len(class_names) != 2:
            raise click.BadParameter(f"{loss} needs 2 classes, the target has "
                                     f"{len(class_names)}", param_hint="--loss")
    elif target != "regression":
        raise click.BadParameter(f"{loss!r} needs class labels but the target is a regression "
                                 f"target; use mse, mae or huber (or --task classification)",
                                 param_hint="--loss")
    return loss


def output_spec(task, class_names, loss):
    """(units, activation) of the output layer: softmax over the classes (two classes
    included), one sigmoid unit with binary_crossentropy, one linear unit for regression."""
    if task == "regression":
        return 1, None
    if nb.losses.get(loss).target == "binary":
        return 1, "sigmoid"
    return len(class_names), "softmax"


def build_default_model(kind, input_shape, hidden, dropout, units, activation):
    """images: a small CNN; tabular: an MLP with Dense + BatchNormalization + ReLU
    (+ Dropout) per hidden layer."""
    L = nb.layers
    layers = [nb.Input(shape=tuple(input_shape))]
    if kind == "images":
        layers += [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                   L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
                   L.Flatten(), L.Dense(128, activation="relu")]
    else:
        for size in hidden:
            # momentum 0.9 (PyTorch's 0.1 weight on the batch): the moving statistics settle
            # in tens of steps, as a small table with a few steps per epoch needs.
            layers += [L.Dense(size), L.BatchNormalization(momentum=0.9), L.ReLU()]
            if dropout:
                layers.append(L.Dropout(dropout))
    layers.append(L.Dense(units, activation=activation))
    return nb.Sequential(layers)


def fold_target_scale(model, mean, std, check_only=False):
    """Fold a target standardisation into the last Dense layer, so the saved model
    predicts in the target's own units: y = std * (x W + b) + mean
    = x (std W) + (std b + mean). check_only: whether the model allows it (last layer a
    linear Dense with a bias)."""
    last = model.layers[-1]
    config = last.get_config()
    ok = (type(last).__name__ == "Dense" and config.get("activation") in (None, "linear")
          and config.get("use_bias", True) and len(last.weights) == 2)
    if check_only or not ok:
        return ok
    kernel, bias = last.weights
    kernel.value[...] = kernel.value * std
    bias.value[...] = bias.value * std + mean
    return True
