"""Metrics for generators: FID, KID, Inception Score, precision/recall, density/coverage.

  frechet            RunningStats (float64, streaming, mergeable, npz), frechet_distance
  kid                kernel_inception_distance (cubic kernel, unbiased MMD^2 over subsets)
  inception_score    inception_score (exp E KL over splits)
  precision_recall   precision_recall (k=3), density_coverage (k=5), manifold_metrics
  extractor          FeatureExtractor, compute_features, compute_stats, weights_sha256
  inception          InceptionV3 (FID variant, 2015-12-05 graph), load_inception, converter
  domain_classifier  the project's own classifiers as extractors ("domain FID")

Every metric takes features [N, D] (numpy or jax); extractors turn images into features.
Import from the submodules (some functions share their module's name).
"""
