{{/* Chart name, possibly overridden. */}}
{{- define "autoshard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Base name of the release's objects: the release name, unless it lacks the chart name. */}}
{{- define "autoshard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "autoshard.controllerName" -}}
{{- printf "%s-controller" (include "autoshard.fullname" .) -}}
{{- end -}}

{{- define "autoshard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "autoshard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "autoshard.controllerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "autoshard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "autoshard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "autoshard.controllerName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The project image, repository:tag (tag defaults to appVersion). */}}
{{- define "autoshard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Valkey pods' default image (the controller's --image). */}}
{{- define "autoshard.valkeyImage" -}}
{{- default (include "autoshard.image" .) .Values.controller.valkeyImage -}}
{{- end -}}

{{/* The ValkeyCluster's name and the Secret holding its password. */}}
{{- define "autoshard.vcName" -}}
{{- default (printf "%s-valkey" .Release.Name | trunc 40 | trimSuffix "-") .Values.valkeyCluster.name -}}
{{- end -}}

{{- define "autoshard.vcSecretName" -}}
{{- default (printf "%s-password" (include "autoshard.vcName" .)) .Values.valkeyCluster.auth.existingSecret -}}
{{- end -}}

{{/* Hardened container securityContext shared by the chart's containers. */}}
{{- define "autoshard.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The image's own non-root user (docker/Dockerfile: USER 10001:10001). */}}
{{- define "autoshard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}
