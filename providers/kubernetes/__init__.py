"""Kubernetes credentials in kubeconfig files."""

from .provider import KubernetesProvider

__all__ = ["KubernetesProvider"]
