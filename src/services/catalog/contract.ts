// The catalog's contract: products (public), inventory (actions for other services), events.
import { Type, Limit, Cursor, Page, defineContract, defineErrors, Currency, Amount } from '../../kit/index.ts'
import { FileId } from '../files/contract.ts'

export const catalogErrors = defineErrors({
  out_of_stock: { status: 409, title: 'Not enough stock', retryable: false },
  reservation_closed: { status: 409, title: 'Reservation already released', retryable: false },
})

const ProductId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  description: 'Client-supplied or generated',
})
const Name = Type.String({ minLength: 1, maxLength: 200 })
const Description = Type.String({ maxLength: 5000 })
const Category = Type.String({ minLength: 1, maxLength: 100 })
const Stock = Type.Integer({ minimum: 0, maximum: 1_000_000_000 })
/** An image stored by the files service; checked to exist and be a public image when set. */
const ImageFileId = Type.Union([FileId, Type.Null()])
/** A decimal amount: a JSON number (29.99) or a decimal string ("29.99"); stored as exact minor units. */
const Price = Type.Union(
  [Type.Number({ minimum: 0, maximum: 1e13 }), Type.String({ pattern: '^\\d{1,13}(\\.\\d{1,6})?$' })],
  { description: 'Decimal amount in the currency, e.g. 29.99' },
)

export const Product = Type.Object({
  id: ProductId,
  name: Name,
  description: Description,
  price: Amount,
  currency: Currency,
  category: Type.Union([Category, Type.Null()]),
  stock: Stock,
  imageFileId: ImageFileId,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})

const CreateProduct = Type.Object(
  {
    id: Type.Optional(ProductId),
    name: Name,
    description: Type.Optional(Description),
    price: Price,
    currency: Type.Optional(Currency),
    category: Type.Optional(Type.Union([Category, Type.Null()])),
    stock: Type.Optional(Stock),
    imageFileId: Type.Optional(ImageFileId),
  },
  { additionalProperties: false },
)

const UpdateProduct = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    price: Type.Optional(Price),
    currency: Type.Optional(Currency),
    category: Type.Optional(Type.Union([Category, Type.Null()])),
    stock: Type.Optional(Stock),
    imageFileId: Type.Optional(ImageFileId),
  },
  { additionalProperties: false, minProperties: 1 },
)

const IdParams = Type.Object({ id: ProductId })

const ListQuery = Type.Object(
  {
    limit: Limit(),
    cursor: Type.Optional(Cursor),
    category: Type.Optional(Category),
    sort: Type.Union(
      [
        Type.Literal('name'),
        Type.Literal('price'),
        Type.Literal('-price'),
        Type.Literal('created'),
        Type.Literal('-created'),
      ],
      { default: 'name' },
    ),
  },
  { additionalProperties: false },
)

const SearchQuery = Type.Object(
  {
    q: Type.String({ minLength: 1, maxLength: 200 }),
    limit: Limit(),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

const ProductPage = Page(Product)
const SearchPage = Page(Type.Intersect([Product, Type.Object({ rank: Type.Number() })]))

const OrderId = Type.String({ minLength: 1, maxLength: 100 })
const Lines = Type.Array(
  Type.Object(
    { productId: ProductId, quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }) },
    { additionalProperties: false },
  ),
  { minItems: 1, maxItems: 100 },
)
const Reservation = Type.Object({
  orderId: OrderId,
  status: Type.Union([Type.Literal('reserved'), Type.Literal('released'), Type.Literal('committed')]),
  items: Type.Array(Type.Object({ productId: ProductId, quantity: Type.Integer() })),
})
const OrderRef = Type.Object({ orderId: OrderId }, { additionalProperties: false })
const InventoryEvent = Type.Object({
  orderId: OrderId,
  items: Type.Array(Type.Object({ productId: ProductId, quantity: Type.Integer() })),
})

export const catalogContract = defineContract({
  name: 'catalog',
  version: '1.0.0',
  routes: {
    listProducts: {
      method: 'GET',
      path: '/api/products',
      summary: 'List products, a page at a time',
      query: ListQuery,
      response: ProductPage,
    },
    searchProducts: {
      method: 'GET',
      path: '/api/products/search',
      summary: 'Full-text search, best match first',
      query: SearchQuery,
      response: SearchPage,
    },
    getProduct: {
      method: 'GET',
      path: '/api/products/:id',
      summary: 'One product',
      params: IdParams,
      response: Product,
      errors: ['not_found'],
    },
    createProduct: {
      method: 'POST',
      path: '/api/products',
      summary: 'Create a product',
      body: CreateProduct,
      response: Product,
      status: 201,
      errors: ['conflict'],
    },
    updateProduct: {
      method: 'PATCH',
      path: '/api/products/:id',
      summary: 'Change some fields of a product',
      params: IdParams,
      body: UpdateProduct,
      response: Product,
      errors: ['not_found'],
    },
    deleteProduct: {
      method: 'DELETE',
      path: '/api/products/:id',
      summary: 'Delete a product with no stock held for orders',
      params: IdParams,
      response: Type.Null(),
      status: 204,
      errors: ['not_found', 'conflict'],
    },
  },
  actions: {
    reserveStock: {
      summary: 'Hold stock for every line of an order, or for none',
      input: Type.Object({ orderId: OrderId, items: Lines }, { additionalProperties: false }),
      output: Reservation,
      idempotent: true,
    },
    releaseStock: {
      summary:
        'Give back the stock of an order, reserved or committed (compensation, or a confirmed order cancelled); a later commit is refused',
      input: OrderRef,
      output: Reservation,
      idempotent: true,
    },
    commitStock: {
      summary: "Turn an order's reservation into a sale (refused once the stock was released)",
      input: OrderRef,
      output: Reservation,
      idempotent: true,
    },
    getProducts: {
      summary: 'The products with these ids (unknown ids are left out): for pricing an order',
      input: Type.Object(
        { ids: Type.Array(ProductId, { minItems: 1, maxItems: 100 }) },
        { additionalProperties: false },
      ),
      output: Type.Object({ items: Type.Array(Product) }),
      idempotent: true,
    },
  },
  events: {
    'product.created': Product,
    'product.updated': Product,
    'product.deleted': Type.Object({ id: ProductId }),
    'inventory.reserved': InventoryEvent,
    'inventory.released': InventoryEvent,
    'inventory.committed': InventoryEvent,
    'inventory.low': Type.Object({ productId: ProductId, stock: Type.Integer(), threshold: Type.Integer() }),
  },
})

export type CatalogContract = typeof catalogContract
