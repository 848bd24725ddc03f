"""Activation families with lookup or fixed-point math: LOGISTIC and SOFTMAX."""
