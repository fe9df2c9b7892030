package kubeenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ControllerFieldManager is the field manager of every write the stand-in
// controllers make. It differs from FieldManager and from the Kubernetes
// provider's, so what they write (the revision annotation, status, the
// ReplicaSets) never conflicts with a server-side apply of the program.
const ControllerFieldManager = "kubeenv-deployment-controller"

// The names the real deployment controller (k8s.io/kubernetes
// pkg/controller/deployment) uses; the Kubernetes provider's Deployment
// await reads the revision annotation.
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	podTemplateHashLabel      = "pod-template-hash"
)

// rolloutInterval is how often RollOutDeployments looks at the cluster: short
// enough that an await sees a Deployment rolled out within a second.
const rolloutInterval = 200 * time.Millisecond

// RollOutDeployments stands in for the deployment controller and the
// ReplicaSet controller (parts of kube-controller-manager, which does not
// run here) and for the pods they would start, until ctx is done. Without it
// a Deployment never becomes ready and the Kubernetes provider's Deployment
// await waits until its timeout.
//
// Every Deployment is made to look fully rolled out, as the real controller
// leaves it once all pods are ready:
//
//   - its pod template has a ReplicaSet named <deployment>-<hash>, controlled
//     by the Deployment (ownerReference with its UID), carrying the
//     deployment.kubernetes.io/revision annotation, scaled to
//     spec.replicas (1 when unset, as the API server defaults it) with every
//     replica ready and available. A changed template gets a new ReplicaSet
//     and the next revision (a template seen before gets its ReplicaSet back,
//     with the next revision, as on a rollback); the others are scaled to 0;
//   - the Deployment carries the same revision annotation and a status,
//     written together through the status subresource under
//     ControllerFieldManager (so, as with the real controller, its
//     generation does not change): observedGeneration = generation, all
//     replica counts = spec.replicas, conditions Available=True
//     (MinimumReplicasAvailable) and Progressing=True (NewReplicaSetAvailable).
//
// No Pod objects are created: nothing would run them, and the provider only
// reads pods to report their errors.
//
// ReplicaSets whose Deployment is gone are deleted: with the API server's
// garbage collector off (see startAPIServer), nothing else would, and a
// Deployment created again under the same name would find them.
//
// A Deployment already rolled out is not written to, so its resourceVersion
// stays put and a refresh or preview finds nothing changed. It returns at
// once; errors are retried on the next round.
func (e *Env) RollOutDeployments(ctx context.Context) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(rolloutInterval):
			}
			_ = e.rollOutOnce(ctx)
		}
	}()
}

type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	UID               string            `json:"uid"`
	ResourceVersion   string            `json:"resourceVersion"`
	Generation        int64             `json:"generation"`
	DeletionTimestamp *string           `json:"deletionTimestamp"`
	Annotations       map[string]string `json:"annotations"`
	OwnerReferences   []ownerReference  `json:"ownerReferences"`
}

type ownerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller"`
}

type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastUpdateTime     string `json:"lastUpdateTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// deploymentStatus is apps/v1 DeploymentStatus (as of Kubernetes v1.32).
type deploymentStatus struct {
	ObservedGeneration  int64       `json:"observedGeneration,omitempty"`
	Replicas            int64       `json:"replicas,omitempty"`
	UpdatedReplicas     int64       `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int64       `json:"readyReplicas,omitempty"`
	AvailableReplicas   int64       `json:"availableReplicas,omitempty"`
	UnavailableReplicas int64       `json:"unavailableReplicas,omitempty"`
	Conditions          []condition `json:"conditions,omitempty"`
	CollisionCount      *int64      `json:"collisionCount,omitempty"`
}

// replicaSetStatus is apps/v1 ReplicaSetStatus (as of Kubernetes v1.32).
type replicaSetStatus struct {
	Replicas             int64       `json:"replicas"`
	FullyLabeledReplicas int64       `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int64       `json:"readyReplicas,omitempty"`
	AvailableReplicas    int64       `json:"availableReplicas,omitempty"`
	ObservedGeneration   int64       `json:"observedGeneration,omitempty"`
	Conditions           []condition `json:"conditions,omitempty"`
}

// deployment is a Deployment as read (raw, to be written back whole through
// the status subresource) and the fields the stand-in uses.
type deployment struct {
	raw      map[string]any
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Replicas        *int64         `json:"replicas"`
		MinReadySeconds int64          `json:"minReadySeconds"`
		Selector        map[string]any `json:"selector"`
		Template        map[string]any `json:"template"`
		Strategy        struct {
			Type          string `json:"type"`
			RollingUpdate *struct {
				MaxSurge any `json:"maxSurge"`
			} `json:"rollingUpdate"`
		} `json:"strategy"`
	} `json:"spec"`
	Status deploymentStatus `json:"status"`
}

type replicaSet struct {
	raw      map[string]any
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Replicas *int64 `json:"replicas"`
	} `json:"spec"`
	Status replicaSetStatus `json:"status"`
}

func decodeDeployment(raw map[string]any) (*deployment, error) {
	d := &deployment{raw: raw}
	return d, convert(raw, d)
}

func decodeReplicaSet(raw map[string]any) (*replicaSet, error) {
	rs := &replicaSet{raw: raw}
	return rs, convert(raw, rs)
}

// convert copies in into out through JSON, the way the API server's answers
// are read everywhere in this package.
func convert(in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

func (e *Env) rollOutOnce(ctx context.Context) error {
	// ReplicaSets first: one listed here whose Deployment is missing from the
	// list below lost it before this round began, so deleting it is safe.
	rsItems, err := e.List(ctx, "/apis/apps/v1/replicasets")
	if err != nil {
		return err
	}
	depItems, err := e.List(ctx, "/apis/apps/v1/deployments")
	if err != nil {
		return err
	}
	var errs []error
	deployments := make([]*deployment, 0, len(depItems))
	exists := map[string]bool{}
	for _, raw := range depItems {
		d, err := decodeDeployment(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		deployments = append(deployments, d)
		exists[d.Metadata.UID] = true
	}
	owned := map[string][]*replicaSet{}
	for _, raw := range rsItems {
		rs, err := decodeReplicaSet(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ref := controllerOf(rs.Metadata)
		if ref == nil || ref.Kind != "Deployment" || !strings.HasPrefix(ref.APIVersion, "apps/") {
			continue
		}
		if exists[ref.UID] {
			owned[ref.UID] = append(owned[ref.UID], rs)
		} else if rs.Metadata.DeletionTimestamp == nil {
			errs = append(errs, e.deleteOrphan(ctx, rs))
		}
	}
	for _, d := range deployments {
		if err := e.rollOut(ctx, d, owned[d.Metadata.UID]); err != nil {
			errs = append(errs, fmt.Errorf("kubeenv: rolling out Deployment %s/%s: %w", d.Metadata.Namespace, d.Metadata.Name, err))
		}
	}
	return errors.Join(errs...)
}

func controllerOf(meta objectMeta) *ownerReference {
	for i, ref := range meta.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			return &meta.OwnerReferences[i]
		}
	}
	return nil
}

// deleteOrphan deletes a ReplicaSet whose Deployment is gone, as the garbage
// collector would; the UID precondition spares one created anew meanwhile.
func (e *Env) deleteOrphan(ctx context.Context, rs *replicaSet) error {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "DeleteOptions",
		"preconditions":     map[string]any{"uid": rs.Metadata.UID},
		"propagationPolicy": "Background",
	})
	if err != nil {
		return err
	}
	_, err = e.Do(ctx, http.MethodDelete, replicaSetPath(rs.Metadata.Namespace, rs.Metadata.Name), "application/json", body)
	if IsReason(err, "NotFound") || IsReason(err, "Conflict") {
		return nil
	}
	return err
}

// rollOut brings one Deployment and its ReplicaSets to the rolled-out state.
// The order matters to an await watching them: the ReplicaSet is complete
// before the Deployment names its revision and says it was seen
// (status.observedGeneration).
func (e *Env) rollOut(ctx context.Context, d *deployment, owned []*replicaSet) error {
	if d.Metadata.DeletionTimestamp != nil {
		return nil
	}
	replicas := int64(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	hash, err := templateHash(d.Spec.Template)
	if err != nil {
		return err
	}
	newName := d.Metadata.Name + "-" + hash

	var newRS *replicaSet
	var oldRSs []*replicaSet
	var maxOld int64
	for _, rs := range owned {
		if rs.Metadata.Name == newName {
			newRS = rs
			continue
		}
		oldRSs = append(oldRSs, rs)
		maxOld = max(maxOld, revisionOf(rs.Metadata))
	}
	revision := maxOld + 1
	if newRS != nil && revisionOf(newRS.Metadata) > maxOld {
		revision = revisionOf(newRS.Metadata)
	}
	rev := strconv.FormatInt(revision, 10)
	scaleAnnotations := map[string]string{
		desiredReplicasAnnotation: strconv.FormatInt(replicas, 10),
		maxReplicasAnnotation:     strconv.FormatInt(replicas+maxSurge(d, replicas), 10),
	}

	if newRS == nil {
		newRS, err = e.createReplicaSet(ctx, d, newName, hash, rev, replicas, scaleAnnotations)
	} else {
		annotations := map[string]string{revisionAnnotation: rev}
		for k, v := range scaleAnnotations {
			annotations[k] = v
		}
		newRS, err = e.scaleReplicaSet(ctx, newRS, replicas, annotations)
	}
	if err != nil {
		return err
	}
	if err := e.readyReplicaSet(ctx, newRS); err != nil {
		return err
	}
	for _, rs := range oldRSs {
		rs, err := e.scaleReplicaSet(ctx, rs, 0, scaleAnnotations)
		if err != nil {
			return err
		}
		if err := e.readyReplicaSet(ctx, rs); err != nil {
			return err
		}
	}

	// Like the real controller (getNewReplicaSet, UpdateStatus), the revision
	// annotation goes through the status subresource with the status: unlike
	// a write of the Deployment itself, that does not bump its generation, and
	// an await never sees the new observedGeneration without the revision.
	status := rolledOutStatus(d, newRS.Metadata.Name, replicas, time.Now())
	if d.Metadata.Annotations[revisionAnnotation] == rev && reflect.DeepEqual(status, d.Status) {
		return nil
	}
	meta, _ := d.raw["metadata"].(map[string]any)
	if meta == nil {
		return errors.New("no metadata")
	}
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	annotations[revisionAnnotation] = rev
	d.raw["apiVersion"], d.raw["kind"] = "apps/v1", "Deployment"
	d.raw["status"] = status
	_, err = e.write(ctx, http.MethodPut, deploymentPath(d.Metadata.Namespace, d.Metadata.Name)+"/status", "application/json", d.raw)
	return err
}

// rolledOutStatus is the status the deployment controller writes once every
// replica of the new ReplicaSet is available (calculateStatus and
// syncRolloutStatus in pkg/controller/deployment). A condition that has not
// changed keeps its times, so a second round writes nothing.
func rolledOutStatus(d *deployment, newRS string, replicas int64, now time.Time) deploymentStatus {
	stamp := now.UTC().Format(time.RFC3339)
	keep := func(c condition) condition {
		c.LastUpdateTime, c.LastTransitionTime = stamp, stamp
		for _, old := range d.Status.Conditions {
			if old.Type != c.Type || old.Status != c.Status {
				continue
			}
			c.LastTransitionTime = old.LastTransitionTime
			if old.Reason == c.Reason && old.Message == c.Message {
				c.LastUpdateTime = old.LastUpdateTime
			}
		}
		return c
	}
	return deploymentStatus{
		ObservedGeneration: d.Metadata.Generation,
		Replicas:           replicas,
		UpdatedReplicas:    replicas,
		ReadyReplicas:      replicas,
		AvailableReplicas:  replicas,
		Conditions: []condition{
			keep(condition{Type: "Available", Status: "True", Reason: "MinimumReplicasAvailable",
				Message: "Deployment has minimum availability."}),
			keep(condition{Type: "Progressing", Status: "True", Reason: "NewReplicaSetAvailable",
				Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS)}),
		},
		CollisionCount: d.Status.CollisionCount,
	}
}

// createReplicaSet creates the ReplicaSet of d's current pod template the way
// getNewReplicaSet in pkg/controller/deployment does: the template, its
// labels and the selector get the pod-template-hash label (so the
// ReplicaSets of one Deployment select disjoint pods), and the Deployment's
// annotations are copied.
func (e *Env) createReplicaSet(
	ctx context.Context, d *deployment, name, hash, rev string, replicas int64, scaleAnnotations map[string]string,
) (*replicaSet, error) {
	var template, selector map[string]any
	if err := convert(d.Spec.Template, &template); err != nil {
		return nil, err
	}
	if err := convert(d.Spec.Selector, &selector); err != nil {
		return nil, err
	}
	if template == nil || selector == nil {
		return nil, errors.New("no pod template or selector")
	}
	tmeta, _ := template["metadata"].(map[string]any)
	if tmeta == nil {
		tmeta = map[string]any{}
		template["metadata"] = tmeta
	}
	labels, _ := tmeta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		tmeta["labels"] = labels
	}
	labels[podTemplateHashLabel] = hash
	matchLabels, _ := selector["matchLabels"].(map[string]any)
	if matchLabels == nil {
		matchLabels = map[string]any{}
		selector["matchLabels"] = matchLabels
	}
	matchLabels[podTemplateHashLabel] = hash

	annotations := map[string]any{}
	for k, v := range d.Metadata.Annotations {
		if !skipCopyAnnotation(k) {
			annotations[k] = v
		}
	}
	for k, v := range scaleAnnotations {
		annotations[k] = v
	}
	annotations[revisionAnnotation] = rev

	spec := map[string]any{"replicas": replicas, "selector": selector, "template": template}
	if d.Spec.MinReadySeconds != 0 {
		spec["minReadySeconds"] = d.Spec.MinReadySeconds
	}
	raw, err := e.write(ctx, http.MethodPost, "/apis/apps/v1/namespaces/"+url.PathEscape(d.Metadata.Namespace)+"/replicasets",
		"application/json", map[string]any{
			"apiVersion": "apps/v1",
			"kind":       "ReplicaSet",
			"metadata": map[string]any{
				"name":        name,
				"namespace":   d.Metadata.Namespace,
				"labels":      labels,
				"annotations": annotations,
				"ownerReferences": []any{map[string]any{
					"apiVersion": "apps/v1", "kind": "Deployment",
					"name": d.Metadata.Name, "uid": d.Metadata.UID,
					"controller": true, "blockOwnerDeletion": true,
				}},
			},
			"spec": spec,
		})
	if err != nil {
		return nil, err
	}
	return decodeReplicaSet(raw)
}

// skipCopyAnnotation lists the annotations the deployment controller does
// not copy from a Deployment to its ReplicaSets (skipCopyAnnotation in
// pkg/controller/deployment/util).
func skipCopyAnnotation(key string) bool {
	switch key {
	case "kubectl.kubernetes.io/last-applied-configuration", revisionAnnotation,
		"deployment.kubernetes.io/revision-history", desiredReplicasAnnotation, maxReplicasAnnotation,
		"deprecated.deployment.rollback.to":
		return true
	}
	return false
}

// scaleReplicaSet sets rs's spec.replicas and annotations, writing only when
// they differ.
func (e *Env) scaleReplicaSet(ctx context.Context, rs *replicaSet, replicas int64, annotations map[string]string) (*replicaSet, error) {
	same := rs.Spec.Replicas != nil && *rs.Spec.Replicas == replicas
	for k, v := range annotations {
		same = same && rs.Metadata.Annotations[k] == v
	}
	if same {
		return rs, nil
	}
	raw, err := e.write(ctx, http.MethodPatch, replicaSetPath(rs.Metadata.Namespace, rs.Metadata.Name),
		"application/merge-patch+json", map[string]any{
			"metadata": map[string]any{"resourceVersion": rs.Metadata.ResourceVersion, "annotations": annotations},
			"spec":     map[string]any{"replicas": replicas},
		})
	if err != nil {
		return nil, err
	}
	return decodeReplicaSet(raw)
}

// readyReplicaSet writes the status the ReplicaSet controller would once all
// of rs's pods are ready and available, unless it is there already.
func (e *Env) readyReplicaSet(ctx context.Context, rs *replicaSet) error {
	var n int64
	if rs.Spec.Replicas != nil {
		n = *rs.Spec.Replicas
	}
	status := replicaSetStatus{
		Replicas: n, FullyLabeledReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		ObservedGeneration: rs.Metadata.Generation,
	}
	if reflect.DeepEqual(status, rs.Status) {
		return nil
	}
	rs.raw["apiVersion"], rs.raw["kind"] = "apps/v1", "ReplicaSet"
	rs.raw["status"] = status
	_, err := e.write(ctx, http.MethodPut, replicaSetPath(rs.Metadata.Namespace, rs.Metadata.Name)+"/status", "application/json", rs.raw)
	return err
}

// write sends body (JSON) under ControllerFieldManager and returns the
// object the API server answers with. Writes that would overwrite a newer
// object carry its resourceVersion, so they fail with a conflict instead,
// and the next round starts from the newer object.
func (e *Env) write(ctx context.Context, method, path, contentType string, body map[string]any) (map[string]any, error) {
	if meta, ok := body["metadata"].(map[string]any); ok {
		// Leaving managedFields out keeps them as they are.
		delete(meta, "managedFields")
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	q := url.Values{"fieldManager": {ControllerFieldManager}}
	answer, err := e.Do(ctx, method, path+"?"+q.Encode(), contentType, data)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(answer, &out); err != nil {
		return nil, fmt.Errorf("kubeenv: decoding the answer to %s %s: %w", method, path, err)
	}
	return out, nil
}

func deploymentPath(namespace, name string) string {
	return "/apis/apps/v1/namespaces/" + url.PathEscape(namespace) + "/deployments/" + url.PathEscape(name)
}

func replicaSetPath(namespace, name string) string {
	return "/apis/apps/v1/namespaces/" + url.PathEscape(namespace) + "/replicasets/" + url.PathEscape(name)
}

func revisionOf(meta objectMeta) int64 {
	n, err := strconv.ParseInt(meta.Annotations[revisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// templateHash names a pod template's ReplicaSet, in the form of the
// deployment controller's ComputeHash (FNV-32a, printed in decimal and
// mapped onto the alphabet of SafeEncodeString), though over the template's
// JSON rather than a dump of the Go struct, so the value differs from a real
// cluster's. Equal templates get equal names, which is what finds a
// template's ReplicaSet again.
func templateHash(template map[string]any) (string, error) {
	data, err := json.Marshal(template) // map keys are sorted
	if err != nil {
		return "", err
	}
	h := fnv.New32a()
	_, _ = h.Write(data)
	const alphanums = "bcdfghjklmnpqrstvwxz2456789"
	digits := []byte(strconv.FormatUint(uint64(h.Sum32()), 10))
	for i, b := range digits {
		digits[i] = alphanums[int(b)%len(alphanums)]
	}
	return string(digits), nil
}

// maxSurge is how many pods over spec.replicas a rolling update may start
// (MaxSurge in pkg/controller/deployment/util), for the max-replicas
// annotation.
func maxSurge(d *deployment, replicas int64) int64 {
	if d.Spec.Strategy.Type == "Recreate" {
		return 0
	}
	var v any = "25%" // the API server's default
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		v = ru.MaxSurge
	}
	switch v := v.(type) {
	case float64:
		return int64(v)
	case string:
		pct, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
		if err != nil {
			return 0
		}
		return int64(math.Ceil(float64(replicas) * float64(pct) / 100))
	}
	return 0
}
