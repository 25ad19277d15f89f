#!/usr/bin/env bash
# Attaches a KongPlugin (the Moesif filter, kong/k8s/kongplugin.yaml) to every Service of a
# namespace, for the Kong Ingress Controller (Kong 3.9): it adds the plugin's name to each
# Service's konghq.com/plugins annotation, keeping the plugins already named there, and leaves
# alone Services that have it. Idempotent; prints what it did.
#   scripts/attach-k8s.sh NAMESPACE [KONGPLUGIN_NAME]      (default name: moesif)
# The KongPlugin must exist in that namespace (a KongPlugin applies within its own namespace).
set -euo pipefail
ns="${1:?usage: $0 NAMESPACE [KONGPLUGIN_NAME]}"
plugin="${2:-moesif}"
attached=0
already=0
for svc in $(kubectl get services -n "$ns" -o name); do
  current="$(kubectl get -n "$ns" "$svc" -o jsonpath='{.metadata.annotations.konghq\.com/plugins}')"
  case ",${current// /}," in
    *",$plugin,"*)
      echo "$svc: already has $plugin"
      already=$((already + 1))
      ;;
    *)
      kubectl annotate -n "$ns" "$svc" --overwrite "konghq.com/plugins=${current:+$current,}$plugin" >/dev/null
      echo "$svc: $plugin added${current:+ (after $current)}"
      attached=$((attached + 1))
      ;;
  esac
done
echo "$((attached + already)) services in $ns: $attached attached, $already already had $plugin"
