"""Quantizers for tokenizers (issue 14): VQ-VAE's vector quantizer, its EMA-codebook variant
with dead-code restart, Finite Scalar Quantization and Lookup-Free Quantization.

Each maps channels-last z [B, H, W, D] or [B, N, D] to (quantized, aux), computes in float32
whatever the input dtype (the output has the input's dtype), and decodes tokens back to
vectors with `indices_to_codes`. aux always holds `indices` (int32, z.shape[:-1]), `loss`
(the quantizer's term of the objective), `codebook_usage` and `perplexity`.
"""
from lib.nn.quantizers.ema_vq import VectorQuantizerEMA
from lib.nn.quantizers.fsq import FiniteScalarQuantizer
from lib.nn.quantizers.lfq import LookupFreeQuantizer
from lib.nn.quantizers.vq import VectorQuantizer

__all__ = ["VectorQuantizer", "VectorQuantizerEMA", "FiniteScalarQuantizer",
           "LookupFreeQuantizer"]
