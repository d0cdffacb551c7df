"""Grain input pipelines and sources (digits, shapes, tfds, folder); see pipeline.py and
sources.py."""
from lib.data.pipeline import DataIterator, make_eval_iterator, make_iterator
from lib.data.sources import image_shape, make_source, num_classes, num_examples

__all__ = ["DataIterator", "image_shape", "make_eval_iterator", "make_iterator",
           "make_source", "num_classes", "num_examples"]
