"""Losses: content (MSE, VGG22, VGG54) and adversarial (BCE from logits, non-saturating)."""

from keras_srgan.losses.content import KINDS, ContentLoss, adversarial_losses, build_vgg_features

__all__ = ["KINDS", "ContentLoss", "adversarial_losses", "build_vgg_features"]
