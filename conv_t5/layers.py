"""All conv_t5 layers, for gin files: `import conv_t5.layers`.

    conv_t5.LightweightConvolution   softmax kernel per head (Wu et al., 2019)
    conv_t5.DynamicConvolution       kernel predicted at each position
    conv_t5.DilatedConvolution       dilated depthwise kernel per head
    conv_t5.Hybrid                   per-block choice, self-attention included
"""

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)
from conv_t5.dilated import DilatedConvolution  # noqa: F401
from conv_t5.dynamic import DynamicConvolution  # noqa: F401
from conv_t5.hybrid import Hybrid  # noqa: F401
from conv_t5.lightweight import LightweightConvolution  # noqa: F401
