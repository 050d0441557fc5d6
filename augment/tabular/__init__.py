"""The conditional tabular GAN: data transformer, condition sampler, entity keys, networks, synthesizer."""
