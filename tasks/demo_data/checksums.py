"""sha256 of every file `python -m conv_t5.tasks.demo_data` generates.

Written by `python -m conv_t5.tasks.demo_data --record_checksums`; every build
is checked against it.
"""

CHECKSUMS = {
    'demo/movie_sentiment/test.tsv':
        '30d7f9d97f5c13362629d5c787c62484c304b71d92072c5e60380f882458a6d2',
    'demo/movie_sentiment/train.tsv':
        'b9c62ec57a6559c58c2f14c24a42c95abd490ba093e8abd1cde6244926f360bd',
    'demo/movie_sentiment/validation.tsv':
        'a247140a2000055856738c86b2cd86290ea76b2389d242c2228ea4c2ad05750c',
    'demo/pretrain/train.txt':
        '571364b1c59f675390c8a09828c91c5597ace091fc5cf0317bcaed40696af460',
    'demo/pretrain/validation.txt':
        '02f9c22ee9c01d1a3b7dcb09625b5d05b1897ee34bf0b01204e2024c2e743186',
    'demo/same_sentiment/test.tsv':
        'c02d5120c9610ccf23520efcb17cff0ce743d62bf89415787ee2e66048404774',
    'demo/same_sentiment/train.tsv':
        '2271432e7ab57949f344684da88907226f3b585472f539542ccd408292ef35ba',
    'demo/same_sentiment/validation.tsv':
        'd10b97e0b24948161b79f29b27c24d27bd2058e1c7b731d3ba954c237d84b559',
    'demo/stats.json':
        'eafd2cca5fb0ac963c8000752f9ccaa1649270c4e02a9c07701f40cb97663f0b',
    'demo/topic/test.tsv':
        'e0ee694ffb14d0ab522bb9e04d01a3f00a6429a8b3856bf38ebe184c74c99a4a',
    'demo/topic/train.tsv':
        'ebcee23194e503624d7a609e4ceabc31f90c14abd13a5e681379df26f288344f',
    'demo/topic/validation.tsv':
        '06da7ae373d7118da79b0b7bc6215cbcb2ccd5160707848d6c059234f9ab7892',
    'demo/tweet_sentiment/test.tsv':
        '27e87cafe8f90e13a8a138d231720c7ac738b115943b662790a7299b5f9a8a19',
    'demo/tweet_sentiment/train.tsv':
        'ead458d00d2a7b7228636df3227c8451975f6d098bd0033d97d3aab069db1422',
    'demo/tweet_sentiment/validation.tsv':
        '64edb8af256c626bbf2658ff51764d94ee11cc7bb07a00021b29e4bd232dfda6',
    'spm/conv_t5_8k.model':
        'dd83ee269a88a0d83945dcb284f3d3480d7d36943d737e51b3145cd27b1e814f',
    'spm/conv_t5_8k.vocab':
        'e48a7930c2188de641bfd300902d7f466fc06f801a6da7c891840e481563d554',
}
