{{/* Names are truncated to 63 characters because some Kubernetes name fields are limited to that (DNS-1123). */}}
{{- define "bctrl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bctrl.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Kebab-case app name of a component key: runtimeOrchestrator -> runtime-orchestrator. */}}
{{- define "bctrl.componentName" -}}
{{- regexReplaceAll "([a-z])([A-Z])" . "${1}-${2}" | lower -}}
{{- end -}}

{{/* The component name is kept under 63 characters together with the fullname prefix. */}}
{{- define "bctrl.componentFullname" -}}
{{- printf "%s-%s" (include "bctrl.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bctrl.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bctrl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bctrl
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bctrl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bctrl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* dict "root" $ "component" "gateway" */}}
{{- define "bctrl.componentLabels" -}}
{{ include "bctrl.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bctrl.componentSelectorLabels" -}}
{{ include "bctrl.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "bctrl.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* dict "root" $ "image" .Values.gateway.image: a digest, when given, pins the image. */}}
{{- define "bctrl.image" -}}
{{- $root := .root -}}
{{- $registry := .image.registry | default $root.Values.global.imageRegistry | default $root.Values.image.registry -}}
{{- $tag := .image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion | toString -}}
{{- $ref := printf "%s:%s" .image.repository $tag -}}
{{- if $registry -}}{{- $ref = printf "%s/%s" $registry $ref -}}{{- end -}}
{{- if .image.digest -}}{{- $ref = printf "%s@%s" $ref .image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "bctrl.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "bctrl.fullname" .)) -}}
{{- end -}}

{{- define "bctrl.configMapName" -}}
{{- printf "%s-config" (include "bctrl.fullname" .) -}}
{{- end -}}

{{- define "bctrl.runtimeNamespace" -}}
{{- .Values.browserRuntime.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "bctrl.runtimeServiceAccountName" -}}
{{- printf "%s-browser-runtime" (include "bctrl.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bctrl.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) (first .Values.ingress.hosts) -}}
{{- end -}}
{{- end -}}

{{/*
The hash covers everything a pod reads at start (ConfigMap and the chart-made Secret), so a changed value rolls
every Deployment; pods do not re-read environment variables on their own. An existingSecret is outside the
release, so rotating it still needs a `kubectl rollout restart`.
*/}}
{{/*
The vault's key-encryption keys: the ones given, else the ones an earlier install generated (kept across upgrades:
losing them loses every secret), else new ones, made once per render (the Secret and the config checksum must agree).
*/}}
{{- define "bctrl.vaultKeys" -}}
{{- if .Values.secrets.vaultKeys -}}
{{- .Values.secrets.vaultKeys -}}
{{- else -}}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace (include "bctrl.secretName" .)) | default dict -}}
{{- $stored := get ($existing.data | default dict) "BCTRL_VAULT_KEYS" -}}
{{- if $stored -}}
{{- $stored | b64dec -}}
{{- else -}}
{{- if not (hasKey .Values.secrets "generatedVaultKeys") -}}
{{- $_ := set .Values.secrets "generatedVaultKeys" (printf "chart-%s:%s" (now | date "20060102") (randBytes 32)) -}}
{{- end -}}
{{- .Values.secrets.generatedVaultKeys -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bctrl.configChecksum" -}}
{{- $config := include (print .Template.BasePath "/configmap.yaml") . -}}
{{- $secret := include (print .Template.BasePath "/secret.yaml") . -}}
{{- printf "%s\n---\n%s" $config $secret | sha256sum -}}
{{- end -}}

{{/*
One Deployment shape for every long-running service, so their security settings cannot drift apart.
dict "root" $ "key" "gateway" "extraEnv" (list ...) "ports" (list ...) "probePort" "http" "secretKeys" (list ...) "serviceAccountName" "" "automountToken" false
*/}}
{{- define "bctrl.deployment" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .key -}}
{{- $component := include "bctrl.componentName" .key -}}
{{- $ctx := dict "root" $root "component" $component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "bctrl.componentFullname" $ctx }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "bctrl.componentLabels" $ctx | nindent 4 }}
  {{- with include "bctrl.annotations" $root }}{{ . | nindent 2 }}{{- end }}
spec:
  replicas: {{ $values.replicaCount }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "bctrl.componentSelectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "bctrl.componentLabels" $ctx | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "bctrl.configChecksum" $root }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccountName | default (printf "%s-workload" (include "bctrl.fullname" $root)) }}
      automountServiceAccountToken: {{ .automountToken | default false }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "bctrl.image" (dict "root" $root "image" $values.image) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ include "bctrl.configMapName" $root }}
          env:
            - name: OTEL_SERVICE_NAME
              value: {{ $component | quote }}
            {{- /* Only the Secret keys this service reads: a pod never holds another service's credentials. An env
                 entry wins over the ConfigMap, so a key kept in both (S3_ACCESS_KEY_ID in an existingSecret) takes the
                 Secret's value; optional, so a key the Secret lacks is named by the service's own boot check. */}}
            {{- range .secretKeys }}
            - name: {{ . }}
              valueFrom:
                secretKeyRef:
                  name: {{ include "bctrl.secretName" $root }}
                  key: {{ . }}
                  optional: true
            {{- end }}
            {{- with .extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- toYaml .ports | nindent 12 }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ .probePort }}
            periodSeconds: 5
            failureThreshold: 60
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ .probePort }}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ .probePort }}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # Node and its libraries write temporary files; the root filesystem stays read-only.
        - name: tmp
          emptyDir:
            sizeLimit: {{ $root.Values.tmpSizeLimit }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The health port every non-gateway service serves /healthz and /readyz on. */}}
{{- define "bctrl.healthPorts" -}}
- name: health
  containerPort: {{ .Values.config.healthPort }}
  protocol: TCP
{{- end -}}

{{/* dict "root" $ "key" "gateway" */}}
{{- define "bctrl.service" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .key -}}
{{- $component := include "bctrl.componentName" .key -}}
{{- $ctx := dict "root" $root "component" $component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "bctrl.componentFullname" $ctx }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "bctrl.componentLabels" $ctx | nindent 4 }}
  {{- $annotations := merge (dict) ($values.service.annotations | default dict) ($root.Values.commonAnnotations | default dict) }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $values.service.type }}
  selector:
    {{- include "bctrl.componentSelectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ $values.service.port }}
      targetPort: http
      protocol: TCP
{{- end -}}
