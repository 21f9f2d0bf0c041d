"""dissim: classification in dissimilarity spaces built by Siamese networks."""

__version__ = "0.1.0"
