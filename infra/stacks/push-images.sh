#!/usr/bin/env bash
# Build and push the images of one environment, between `pulumi up` of its platform stack
# (which made the ECR repositories) and of its workloads stack (whose Deployments pull the
# service images): the feature server, the model server and the Spark jobs' image (the EMR
# Serverless application's runtime, services/jobs/Dockerfile). Repositories come from the
# platform stack's outputs, tags from its `images` output (Pulumi.<stack>.yaml). Tags are
# immutable in ECR: a tag already pushed is left alone, so a rerun pushes only what is missing.
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

# push <image> <tag key> <docker build arguments...>
push() {
  local image=$1 key=$2
  shift 2
  local url tag registry region
  url=$(field "$repositories" "mlplat-$stack-$image")     # <account>.dkr.ecr.<region>.amazonaws.com/mlplat-<stack>-<image>
  tag=$(field "$tags" "$key")
  registry=${url%%/*}
  region=$(echo "$registry" | cut -d. -f4)
  if aws ecr describe-images --region "$region" --repository-name "${url#*/}" --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    echo "$url:$tag is in the registry already"
    return 0
  fi
  if [ -z "$logged_in" ]; then
    aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
    logged_in=yes
  fi
  docker build "$@" --tag "$url:$tag" .
  docker push "$url:$tag"
  pushed="$pushed $image"
}

pushed=""
push feature-server featureServer --file services/Dockerfile --build-arg SERVICE=feature_server
push model-server modelServer --file services/Dockerfile --build-arg SERVICE=model_server
push jobs jobs --file services/jobs/Dockerfile
case " $pushed " in
  *" jobs "*)
    echo "The job image $(field "$tags" jobs) is pushed: set images.jobsRuntime to it in Pulumi.$stack.yaml" \
      "and deploy again (\`pulumi up --stack $stack\`) so the EMR Serverless application runs on it."
    ;;
esac
