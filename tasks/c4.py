"""The paper's pre-training task: span corruption on C4 (as T5).

  c4_span_corruption   c4/en:3.1.0 (the version current TFDS prepares; t5's
                       own c4_v220_span_corruption pins 2.2.0, which it no
                       longer generates), mean span 3, 15% noise.

Preparing C4 takes an Apache Beam job over Common Crawl (see the TFDS c4
page); on TPU, point --t5_tfds_data_dir at a prepared gs:// copy.
"""

import seqio

from conv_t5.tasks import local
from conv_t5.tasks import sources
from conv_t5.tasks import vocab

C4 = "c4/en:3.1.0"

seqio.TaskRegistry.add(
    "c4_span_corruption",
    source=sources.TfdsSource(C4, splits=("train", "validation")),
    preprocessors=local.SPAN_CORRUPTION_PREPROCESSORS,
    output_features=vocab.OUTPUT_FEATURES,
    metric_fns=[])
