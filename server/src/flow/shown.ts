/** What a step's form or menu outcome becomes: the record as stored, and the result the client is shown from a record. */
import type { FormResult, MenuResult } from '@flowgate/shared';
import type { JsonObject } from '../store/types.js';
import type { FlowRecord } from './record.js';
import type { FormOutcome, MenuOutcome } from './results.js';

/** The record as stored once `outcome` (a form or a menu) is what the client is shown. */
export function withShown(record: FlowRecord, outcome: FormOutcome<JsonObject, string> | MenuOutcome<JsonObject, string>): FlowRecord {
  const base = { ...record, step_id: outcome.stepId, state: outcome.state };
  if (outcome.kind === 'menu') {
    return {
      ...base,
      form: {
        data_schema: [],
        errors: null,
        description_placeholders: outcome.descriptionPlaceholders,
        last_step: null,
        menu_options: [...outcome.menuOptions],
      },
    };
  }
  return {
    ...base,
    form: {
      data_schema: outcome.dataSchema,
      errors: outcome.errors,
      description_placeholders: outcome.descriptionPlaceholders,
      last_step: outcome.lastStep,
    },
  };
}

export function shownResult(flowId: string, record: FlowRecord, expiresAt: number): FormResult | MenuResult {
  const expires = new Date(expiresAt).toISOString();
  if (record.form.menu_options !== undefined) {
    return {
      type: 'menu',
      flow_id: flowId,
      handler: record.handler,
      step_id: record.step_id,
      menu_options: record.form.menu_options,
      description_placeholders: record.form.description_placeholders,
      expires_at: expires,
    };
  }
  return {
    type: 'form',
    flow_id: flowId,
    handler: record.handler,
    step_id: record.step_id,
    data_schema: record.form.data_schema,
    errors: record.form.errors,
    description_placeholders: record.form.description_placeholders,
    last_step: record.form.last_step,
    expires_at: expires,
  };
}
