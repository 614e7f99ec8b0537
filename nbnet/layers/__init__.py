"""Layers (Keras 3 names, arguments and defaults)."""
from .base import Layer, Weight, deserialize, serialize  # noqa: F401
from .input import Input, InputLayer  # noqa: F401
from .core import Activation, ActivityRegularization, Dense, Dropout, Flatten, Reshape  # noqa: F401
from .activations import ELU, LeakyReLU, PReLU, ReLU, Softmax  # noqa: F401
from .normalization import BatchNormalization  # noqa: F401
from .layernorm import GroupNormalization, LayerNormalization  # noqa: F401
from .embedding import Embedding, Masking  # noqa: F401
from .conv import Conv2D  # noqa: F401
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D,  # noqa: F401
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply,  # noqa: F401
                    Subtract, add, average, concatenate, maximum, minimum, multiply,
                    subtract)
from .preprocessing import CenterCrop, Normalization, Rescaling, Resizing  # noqa: F401
from .augmentation import (RandomBrightness, RandomContrast, RandomCrop,  # noqa: F401
                           RandomFlip, RandomRotation, RandomTranslation, RandomZoom)
from .reshaping import (Cropping2D, Identity, Permute, RepeatVector,  # noqa: F401
                        UpSampling2D, ZeroPadding2D)
from .noise import AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout2D  # noqa: F401
from .conv_more import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D  # noqa: F401
from .lookup import CategoryEncoding, Discretization, Hashing, IntegerLookup, StringLookup  # noqa: F401
from .text import TextVectorization  # noqa: F401
from .recurrent import GRU, LSTM, SimpleRNN  # noqa: F401
from .wrappers import Bidirectional, TimeDistributed  # noqa: F401
from .conv1d import (AveragePooling1D, AvgPool1D, Conv1D, Convolution1D, Cropping1D,  # noqa: F401
                     GlobalAveragePooling1D, GlobalAvgPool1D, GlobalMaxPool1D,
                     GlobalMaxPooling1D, MaxPool1D, MaxPooling1D, UpSampling1D, ZeroPadding1D)

Convolution2D = Conv2D
