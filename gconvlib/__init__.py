"""gconvlib: the reference companion for three papers on grouped convolution."""
__version__ = "0.1.0"
