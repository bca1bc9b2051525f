"""The paper's sublayers as gin-configurable Mesh-TF TransformerLayers.

Gin files (and saved operative configs) name them after `import
conv_t5.layers`:

    conv_t5.LightweightConvolution   softmax kernel per head (Wu et al., 2019)
    conv_t5.DynamicConvolution       kernel predicted at each position
    conv_t5.DilatedConvolution       dilated depthwise kernel per head
    conv_t5.Hybrid                   per-block choice, self-attention included
    conv_t5.GatherVocabEmbedding     the vocabulary lookup as a gather (CPU)

Modules: `core` (the one depthwise convolution: banded product, packed-example
masking, causal or centred window, dilation, decoding state), `block` (GLU ->
convolution -> W_O, shared by the variants), `lightweight`, `dynamic`,
`dilated` (where each variant's kernel comes from), `hybrid` (a stack that
chooses a variant or self-attention per block) and `schedule` (a
hyper-parameter given once or per block); `embedding` (the CPU's vocabulary
lookup, selected by gin/cpu.gin).
"""

from conv_t5.layers.dilated import DilatedConvolution  # noqa: F401
from conv_t5.layers.dynamic import DynamicConvolution  # noqa: F401
from conv_t5.layers.embedding import GatherVocabEmbedding  # noqa: F401
from conv_t5.layers.hybrid import Hybrid  # noqa: F401
from conv_t5.layers.lightweight import LightweightConvolution  # noqa: F401
