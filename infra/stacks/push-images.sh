#!/usr/bin/env bash
# Build and push the services' images of one environment, between `pulumi up` of its
# platform stack (which made the ECR repositories) and of its workloads stack (whose
# Deployments pull them). Repositories come from the platform stack's outputs, tags from
# its `images` output (Pulumi.<stack>.yaml). Tags are immutable in ECR: a tag already
# pushed is left alone, so a rerun pushes only what is missing.
#
#   infra/stacks/push-images.sh <stack>        (from anywhere; needs pulumi, aws, docker)
set -euo pipefail
stack=${1:?usage: infra/stacks/push-images.sh <stack>}
cd "$(dirname "$0")/../.."

output() { pulumi stack output "$1" --json --stack "$stack"; }
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

repositories=$(output imageRepositories)
tags=$(output images)
logged_in=""
for service in feature_server model_server; do
  image=${service//_/-}                                    # feature-server
  key=$(python3 -c 'import sys; a, b = sys.argv[1].split("_"); print(a + b.title())' "$service")  # featureServer
  url=$(field "$repositories" "mlplat-$stack-$image")      # <account>.dkr.ecr.<region>.amazonaws.com/mlplat-<stack>-<image>
  tag=$(field "$tags" "$key")
  registry=${url%%/*}
  region=$(echo "$registry" | cut -d. -f4)
  if aws ecr describe-images --region "$region" --repository-name "${url#*/}" --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    echo "$url:$tag is in the registry already"
    continue
  fi
  if [ -z "$logged_in" ]; then
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
    logged_in=yes
  fi
  docker build --file services/Dockerfile --build-arg "SERVICE=$service" --tag "$url:$tag" .
  docker push "$url:$tag"
done
